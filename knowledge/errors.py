"""The knowledge base's errors, importable without loading Chroma or the embeddings."""


class SourceError(Exception):
    """A source document that cannot be used; the message names the file and line."""


class IndexUnavailable(Exception):
    """The Chroma server cannot be reached or used; the message says which and why."""
