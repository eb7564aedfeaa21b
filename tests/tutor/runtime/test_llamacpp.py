"""The optional llama.cpp runtime on the packaged GGUF, and the lab without it.

The runtime's tests run where the `llamacpp` extra is installed (the dev extra includes
it) and are skipped, with that reason, where it is not.
"""

import pytest

from tutor.errors import LabError, ModelError
from tutor.lab import run as lab
from tutor.lab.measure import eval_ids, score_text
from tutor.lab.report import LLAMACPP, PRECISIONS, LabSetup
from tutor.runtime import llamacpp
from tutor.runtime.base import GenerationRequest, GenerationTimeout
from tutor.runtime.llamacpp import load_llamacpp
from tutor.runtime.transformers import load_model
from tutor.settings import load_settings

needs_llamacpp = pytest.mark.skipif(
    not llamacpp.available(), reason="the llamacpp extra is not installed"
)
QUICK = LabSetup(eval_tokens=400, window=256, stride=128)


@pytest.fixture(scope="module")
def gguf(settings):
    return load_llamacpp("packaged", settings.cache_dir, scoring=True)


def question(text: str, max_new_tokens: int = 24, **options) -> GenerationRequest:
    return GenerationRequest([{"role": "user", "content": text}], max_new_tokens, **options)


@needs_llamacpp
@pytest.mark.model  # loads the real model
def test_it_generates_streams_and_stops_at_the_token_limit(gguf):
    pieces = []
    generation = gguf.generate_batch([question("What is int8?", 16, on_text=pieces.append)])[0]
    assert generation.text and 0 < generation.new_tokens <= 16
    assert "".join(pieces).strip() == generation.text


@needs_llamacpp
@pytest.mark.model  # loads the real model
def test_greedy_generation_is_repeatable(gguf):
    first = gguf.generate_batch([question("Explain NF4 in one sentence.")])[0]
    again = gguf.generate_batch([question("Explain NF4 in one sentence.")])[0]
    assert again.text == first.text  # the second reuses the cached prompt: same tokens


@needs_llamacpp
@pytest.mark.model  # loads the real model
def test_a_cancelled_or_timed_out_request_stops(gguf):
    cancelled = question("Explain quantization in detail.", 200)
    cancelled.on_text = lambda _: cancelled.cancelled.set()
    timed_out = question("Explain quantization in detail.", 200, timeout_s=0.0)
    results = gguf.generate_batch([cancelled, timed_out])
    assert "cancelled" in str(results[0])
    assert isinstance(results[1], GenerationTimeout)


@needs_llamacpp
@pytest.mark.model  # loads the real model
def test_its_logits_match_the_bf16_model_it_was_converted_from(gguf, settings):
    """The bf16 folder is the Q4_1 GGUF widened, so both must predict nearly alike;
    a misaligned position would show as a large divergence."""
    bf16 = load_model("packaged", "none", settings.cache_dir)
    ids = eval_ids(bf16.tokenizer, QUICK)
    reference = score_text(bf16, ids, setup=QUICK)
    score = score_text(gguf, ids, reference.top_k, QUICK)
    assert score.perplexity == pytest.approx(reference.perplexity, rel=0.05)
    assert score.kl_divergence < 0.05 and score.top1_agreement > 0.9


@needs_llamacpp
@pytest.mark.model  # loads the real model
async def test_the_tutor_answers_with_it(settings):
    from tutor.service import TutorService

    tutor = TutorService.start(settings.model_copy(update={"runtime": "llamacpp"}), progress=False)
    try:
        answer = await tutor.ask("How many bytes does an int8 weight take?")
    finally:
        tutor.close()
    assert answer.quantization == "q4_1" and answer.kind == "answer"
    assert any(s.origin == "draft" for s in answer.sentences)


@needs_llamacpp
def test_a_model_that_is_not_a_gguf_file_is_refused_clearly(tmp_path):
    with pytest.raises(ModelError, match="not a .gguf file"):
        load_llamacpp(str(tmp_path / "model.bin"), tmp_path)


def test_without_it_the_lab_says_how_to_add_it(monkeypatch, tmp_path):
    monkeypatch.setattr(llamacpp, "available", lambda: False)
    settings = load_settings(data_dir=tmp_path)
    assert lab.default_precisions(settings) == PRECISIONS
    assert any("pip install" in note for note in lab._notes(settings, PRECISIONS))
    with pytest.raises(LabError, match="pip install"):
        lab.run_lab(settings, (LLAMACPP,), progress=False)
    with pytest.raises(ModelError, match="QUANTUTOR_RUNTIME=llamacpp: .*pip install"):
        load_llamacpp("packaged", tmp_path)
