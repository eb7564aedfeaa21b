"""Shared fixtures: the real index and the real SQLite store, built once, with the real model
(`service`) or a scripted stand-in for it (`fake_service`)."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing in the tests may reach a network

import pytest

from tutor.logs import configure_logging
from tutor.settings import load_settings

configure_logging()

# Fixtures that load a real language model: a test that uses one, even through another
# fixture, is marked `model` (and `make check`, `-m "not model"`, leaves it out). Modules
# that load a model themselves carry `pytestmark = pytest.mark.model` or mark their tests.
MODEL_FIXTURES = {"service"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items):
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    """Default settings with a fresh data directory; the model cache is the user's own."""
    return load_settings(data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def service(settings):
    """The tutor with the real model (SmolLM2-135M): for tests about what the model does."""
    from tutor.service import TutorService

    tutor = TutorService.start(settings, progress=False)
    yield tutor
    tutor.close()


@pytest.fixture(scope="session")
def fake_model():
    """The scripted model behind `fake_service`; tests script it with `script_draft`."""
    from tutor.runtime.fake import FakeModel

    return FakeModel()


@pytest.fixture(scope="session")
def fake_service(settings, fake_model):
    """The real tutor (index, store, verifier) around `fake_model`: for tests that are not
    about the model. It shares `service`'s data directory, so whichever starts second finds
    the index built and starts in seconds."""
    from tutor.service import TutorService

    tutor = TutorService.start(settings, progress=False, model=fake_model)
    yield tutor
    tutor.close()


@pytest.fixture
def script_draft(fake_model, monkeypatch):
    """Script the fake model's draft for one question (or topic, or detail), for one test:
    `script_draft("Is int8 lossless?", "int8 is always lossless [1].")`."""

    def script(question: str, draft: str) -> None:
        monkeypatch.setitem(fake_model.script, question, draft)

    return script
