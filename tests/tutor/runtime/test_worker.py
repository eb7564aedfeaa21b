"""Dynamic batching in the model worker, on a tiny fp32 model (fast, and exact arithmetic
enough that batched and one-at-a-time greedy decoding must agree token for token)."""

import threading
import time

import pytest

from tests.helpers.tiny_model import tiny_llama
from tutor.runtime.base import GenerationCancelled, GenerationRequest, GenerationTimeout
from tutor.runtime.transformers import LoadedModel
from tutor.runtime.worker import ModelWorker

pytestmark = pytest.mark.model  # a tiny random Llama, loaded by transformers

QUESTIONS = [
    "What is int8?",
    "Explain NF4 in detail please.",
    "q4 vs q8?",
    "What is GPTQ used for?",
]


@pytest.fixture(scope="module")
def tiny_worker():
    model, tokenizer = tiny_llama()
    worker = ModelWorker(LoadedModel(model, tokenizer, "tiny", "none", 0.0))
    yield worker
    worker.close()


def request(question, max_new_tokens=12, on_text=None):
    return GenerationRequest([{"role": "user", "content": question}], max_new_tokens, on_text)


def test_a_batch_gives_each_request_the_tokens_it_gets_alone(tiny_worker):
    alone = [tiny_worker.loaded.generate_batch([request(q)])[0] for q in QUESTIONS]
    streamed = {q: [] for q in QUESTIONS}
    batch = [request(q, on_text=streamed[q].append) for q in QUESTIONS]
    together = tiny_worker.loaded.generate_batch(batch)
    assert [g.text for g in together] == [g.text for g in alone]
    assert [g.new_tokens for g in together] == [g.new_tokens for g in alone]
    for question, generation in zip(QUESTIONS, together):
        assert "".join(streamed[question]).strip() == generation.text


def test_requests_submitted_together_are_batched(tiny_worker):
    sizes = []
    loaded = tiny_worker.loaded
    original = loaded.generate_batch
    loaded.generate_batch = lambda requests: sizes.append(len(requests)) or original(requests)
    try:
        submitted = [tiny_worker.submit(request(q, 8)) for q in QUESTIONS]
        results = [s.future.result(timeout=60) for s in submitted]
    finally:
        del loaded.generate_batch
    assert all(r.text is not None for r in results)
    assert max(sizes) > 1 and sum(sizes) == len(QUESTIONS)


def test_a_cancelled_request_does_not_disturb_the_others(tiny_worker):
    alone = [tiny_worker.loaded.generate_batch([request(q, 30)])[0] for q in QUESTIONS]
    cancel_after_first = threading.Event()

    def cancel_second(_text):
        batch[1].cancelled.set()
        cancel_after_first.set()

    batch = [request(q, 30) for q in QUESTIONS]
    batch[1].on_text = cancel_second
    results = tiny_worker.loaded.generate_batch(batch)
    assert cancel_after_first.is_set()
    assert isinstance(results[1], GenerationCancelled)
    assert [r.text for i, r in enumerate(results) if i != 1] == [
        g.text for i, g in enumerate(alone) if i != 1
    ]


def test_a_draft_over_its_time_limit_stops_with_a_timeout(tiny_worker):
    slow = request("Explain NF4 in detail please.", 200)
    slow.timeout_s = 0.0  # out of time at its first token
    assert isinstance(tiny_worker.loaded.generate_batch([slow])[0], GenerationTimeout)


def test_the_wait_in_line_does_not_count_against_the_time_limit(tiny_worker):
    """One at a time: the second request waits behind a slow first one for longer than
    its own limit, which its own short draft keeps within."""
    limit = 0.5
    worker = ModelWorker(tiny_worker.loaded, max_batch=1)
    try:
        slow = worker.submit(request("What is int8?", 30, lambda _: time.sleep(0.05)))
        while slow.started_at is None:  # the slow one is generating before the next is queued
            time.sleep(0.001)
        behind = request("What is int8?", 4)
        behind.timeout_s = limit
        worker.submit(behind)
        generation = behind.future.result(timeout=120)
    finally:
        worker.close()
    assert behind.started_at - slow.started_at > limit  # it waited longer than its limit
    assert generation.new_tokens > 0
