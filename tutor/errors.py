"""The core's errors, each with a message written for the person who sees it.

A module of its own so that a front end can catch them without importing a model
runtime, the index or the store.
"""


class SettingsError(Exception):
    """A setting has a value quantutor cannot use; the message names it."""


class GuardError(ValueError):
    """The input cannot be used; the message tells the user what to do instead."""


class CuratedError(ValueError):
    """A curated table that is missing or does not match its schema; the message names
    the file and the entry."""


class ModelError(Exception):
    """The model cannot be found, converted or loaded; the message says what to do."""


class StorageError(Exception):
    """The store cannot be opened or used; the message says why."""


class ReviewError(Exception):
    """A review action that cannot be applied (unknown item, already resolved)."""


class LabError(Exception):
    """A measurement could not be made; the message says which and why."""


class AdmissionError(Exception):
    """A question not admitted; the message tells the user why and when to come back."""

    def __init__(self, message: str, retry_after_s: float):
        super().__init__(message)
        self.retry_after_s = retry_after_s
