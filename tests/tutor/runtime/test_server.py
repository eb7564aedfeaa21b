"""The server runtime against llama.cpp's own OpenAI-compatible server (`python -m
llama_cpp.server`, from llama-cpp-python's `server` extra, in the dev extra) serving the
packaged GGUF on 127.0.0.1: answers, streaming, cancellation and each failure a user can
meet. Skipped, with that reason, only where the extra is not installed.
"""

import importlib.util
import json
import logging
import time

import pytest
from pydantic import SecretStr

from tutor.errors import ModelError, SettingsError
from tutor.lab import run as lab
from tutor.lab.chart import draw_chart
from tutor.lab.report import SERVER, LabSetup
from tutor.runtime import load_configured
from tutor.runtime.base import GenerationCancelled, GenerationRequest, GenerationTimeout
from tutor.runtime.packaged import free_port, served_packaged_gguf
from tutor.runtime.worker import ModelWorker
from tutor.settings import load_settings
from tutor.text import complete_sentences

SERVER_MODULES = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context")
needs_server = pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in SERVER_MODULES),
    reason="llama-cpp-python's server extra is not installed (`pip install -e '.[dev]'`)",
)
pytestmark = [needs_server]
KEY = "test-key-4f9a"
ALIAS = "smollm2"
QUESTION = [{"role": "user", "content": "What is int8 quantization? Answer in two sentences."}]


def llama_server(interrupt_requests: bool = False):
    """llama.cpp's server on the packaged GGUF until the block ends: yields its /v1 base.
    Requests wait their turn unless `interrupt_requests` (the server's default: a new
    request ends the draft in progress)."""
    options = {"model_alias": ALIAS, "api_key": KEY, "n_threads": 1, "n_ctx": 2048}
    return served_packaged_gguf(**options, interrupt_requests=interrupt_requests)


@pytest.fixture(scope="session")
def server_url():
    with llama_server() as url:
        yield url


def server_settings(url: str, **overrides):
    values = {"runtime": "server", "server_url": url, "server_model": ALIAS}
    return load_settings(**{"server_api_key": KEY, **values, **overrides})


@pytest.fixture(scope="session")
def served(server_url):
    return load_configured(server_settings(server_url))


def ask(max_new_tokens: int = 48, **options) -> GenerationRequest:
    return GenerationRequest(QUESTION, max_new_tokens, **options)


@pytest.mark.model  # the server runs the real model
def test_a_draft_streams_from_the_server_and_stops_at_its_sentence_limit(served):
    pieces = []
    whole = served.generate_batch([ask(on_text=pieces.append)])[0]
    assert whole.text and 0 < whole.new_tokens <= 48
    assert len(pieces) > 3 and "".join(pieces).strip() == whole.text  # streamed, not at once
    one = served.generate_batch([ask(max_sentences=1)])[0]
    assert len(complete_sentences(one.text)) == 1


@pytest.mark.model  # the server runs the real model
def test_requests_batched_by_the_worker_each_stream_their_own_draft(served):
    questions = ["What is NF4?", "What is GPTQ?", "Is int8 lossless?"]
    streamed = {q: [] for q in questions}
    batch = [GenerationRequest(_user(q), 24, streamed[q].append) for q in questions]
    for question, generation in zip(questions, served.generate_batch(batch)):
        assert generation.text and "".join(streamed[question]).strip() == generation.text


@pytest.mark.model  # the server runs the real model
def test_a_cancelled_draft_closes_its_request_and_frees_the_server(served):
    """The server drafts one request at a time: a request left open would hold it until
    its 400 tokens were done, and the next would wait that long."""
    essay = [{"role": "user", "content": "Write a long essay about every kind of quantization."}]
    started = time.perf_counter()
    full = served.generate_batch([GenerationRequest(essay, 400)])[0]
    full_s = time.perf_counter() - started
    assert full.new_tokens > 150  # long enough for the wait to show

    cancelled = GenerationRequest(essay, 400)
    cancelled.on_text = lambda _: cancelled.cancelled.set()
    assert isinstance(served.generate_batch([cancelled])[0], GenerationCancelled)
    started = time.perf_counter()
    assert served.generate_batch([ask(4)])[0].text
    assert time.perf_counter() - started < full_s / 2


@pytest.mark.model  # the server runs the real model
def test_a_draft_over_its_time_limit_stops_with_a_timeout(served):
    result = served.generate_batch([ask(200, timeout_s=0.001)])[0]
    assert isinstance(result, GenerationTimeout)
    assert served.generate_batch([ask(4)])[0].text  # and the server answers the next one


@pytest.mark.model  # the server runs the real model
async def test_the_tutor_answers_through_it(server_url, settings):
    from tutor.service import TutorService

    served = {"runtime": "server", "server_url": server_url, "server_model": ALIAS}
    served["server_api_key"] = SecretStr(KEY)
    tutor = TutorService.start(settings.model_copy(update=served), progress=False)
    try:
        answer = await tutor.ask("How many bytes does an int8 weight take?")
    finally:
        tutor.close()
    assert answer.quantization == "server" and answer.kind == "answer"
    assert any(s.origin == "draft" for s in answer.sentences)


@pytest.mark.model  # the server runs the real model
def test_a_model_the_server_does_not_serve_is_named_with_what_it_serves(server_url):
    with pytest.raises(ModelError, match=f"no model 'no-such-model'; it serves '{ALIAS}'"):
        load_configured(server_settings(server_url, server_model="no-such-model"))


@pytest.mark.model  # the server runs the real model
def test_a_url_that_is_not_the_v1_base_says_so(server_url):
    with pytest.raises(ModelError, match="QUANTUTOR_SERVER_URL ends in /v1"):
        load_configured(server_settings(server_url.removesuffix("/v1")))


@pytest.mark.model  # the server runs the real model
def test_a_wrong_or_missing_key_is_refused_in_one_line_without_the_key(server_url):
    for key in ("not-the-key", None):
        with pytest.raises(ModelError, match="refused the API key") as refused:
            load_configured(server_settings(server_url, server_api_key=key))
        assert "QUANTUTOR_SERVER_API_KEY" in str(refused.value)
        assert "\n" not in str(refused.value) and KEY not in str(refused.value)


@pytest.mark.model  # the server runs the real model
def test_the_key_appears_in_no_repr_description_or_log(served, caplog):
    caplog.set_level(logging.DEBUG)
    served.generate_batch([ask(2)])
    shown = [repr(served), served.describe(), repr(server_settings(served.url)), caplog.text]
    assert all(KEY not in text for text in shown)


def test_a_server_that_is_not_running_is_named():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelError, match=f"model server at {url} is not reachable"):
        load_configured(server_settings(url))


@pytest.mark.model  # the server runs the real model
def test_a_server_that_stops_fails_each_draft_in_one_line_and_the_worker_goes_on():
    with llama_server() as url:
        worker = ModelWorker(load_configured(server_settings(url)))
        assert worker.submit(ask(4)).future.result(timeout=120).text
    try:
        for _ in range(2):  # the worker is not wedged by the first failure
            with pytest.raises(ModelError, match=f"server at {url} is not reachable"):
                worker.submit(ask(4)).future.result(timeout=30)
    finally:
        worker.close()


@pytest.mark.model  # the server runs the real model
def test_a_draft_the_server_interrupts_says_how_to_start_it():
    with llama_server(interrupt_requests=True) as url:
        served = load_configured(server_settings(url))
        results = served.generate_batch([ask(), ask()])
    interrupted = [r for r in results if isinstance(r, ModelError)]
    assert interrupted and "--interrupt_requests False" in str(interrupted[0])


def test_the_server_runtime_says_which_settings_it_needs(tmp_path):
    with pytest.raises(ModelError, match="QUANTUTOR_SERVER_URL .* QUANTUTOR_SERVER_MODEL"):
        load_configured(load_settings(runtime="server"))
    with pytest.raises(SettingsError, match="QUANTUTOR_SERVER_URL"):
        load_settings(runtime="server", server_url="localhost:8080/v1")


@pytest.mark.model  # the server runs the real model
def test_the_lab_measures_the_server_row(server_url, settings, tmp_path):
    configured = {"runtime": "server", "server_url": server_url, "server_model": ALIAS}
    configured["server_api_key"] = SecretStr(KEY)
    quick = LabSetup(prompt_tokens=64, new_tokens=8, speed_runs=1)
    served = settings.model_copy(update=configured)
    assert SERVER in lab.default_precisions(served)
    report = lab.run_lab(served, (SERVER,), progress=False, setup=quick, answer_questions=2)
    (row,) = report.results
    assert row.prefill_s > 0 and row.decode_tokens_per_s > 0 and row.answer_recall is not None
    assert row.footprint_mb is None  # the weights are the server's
    assert "| model server | – | – |" in report.render_table()
    assert any(ALIAS in note for note in report.notes)
    draw_chart(report, tmp_path / "lab.png")
    assert KEY not in json.dumps(report.to_dict())


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]
