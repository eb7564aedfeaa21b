"""Shared fixtures: the real model, the real index and the real SQLite store, built once."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing in the tests may reach a network

import pytest

from tutor.logs import configure_logging
from tutor.settings import load_settings

configure_logging()


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    """Default settings with a fresh data directory; the model cache is the user's own."""
    return load_settings(data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def service(settings):
    from tutor.service import TutorService

    tutor = TutorService.start(settings, progress=False)
    yield tutor
    tutor.close()
