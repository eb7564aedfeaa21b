"""The real packaged model: converted once, loaded at each precision, generating."""

import asyncio
import time

import pytest

from tutor.errors import ModelError
from tutor.runtime import load_configured
from tutor.runtime import transformers as runtime
from tutor.runtime.base import GenerationRequest
from tutor.runtime.packaged import convert_packaged
from tutor.runtime.transformers import load_model
from tutor.runtime.worker import ModelWorker
from tutor.text import complete_sentences


@pytest.mark.parametrize("quantization", ["nf4", "int8", "none"])
@pytest.mark.model  # loads the real model
def test_each_precision_loads_and_generates(settings, quantization):
    loaded = load_model("packaged", quantization, settings.cache_dir)
    assert loaded.quantization == quantization
    assert quantization in loaded.describe()
    worker = ModelWorker(loaded)
    try:
        request = worker.submit(
            GenerationRequest([{"role": "user", "content": "What is a bit?"}], 12)
        )
        generation = request.future.result(timeout=60)
    finally:
        worker.close()
    assert generation.new_tokens > 0
    assert generation.text.strip()


@pytest.mark.model  # loads the real model
def test_nf4_is_less_than_half_the_bf16_footprint(settings):
    bf16 = load_model("packaged", "none", settings.cache_dir).footprint_bytes
    nf4 = load_model("packaged", "nf4", settings.cache_dir).footprint_bytes
    assert nf4 <= 0.45 * bf16


@pytest.mark.model  # loads the real model
def test_the_conversion_is_reused(settings):
    folder = convert_packaged(settings.cache_dir)
    started = time.perf_counter()
    assert convert_packaged(settings.cache_dir) == folder
    assert time.perf_counter() - started < 0.5
    assert (folder / "model.safetensors").is_file()


@pytest.mark.model  # loads the real model
def test_an_interrupted_conversion_leaves_nothing_half_written(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(runtime.AutoModelForCausalLM, "from_pretrained", interrupted)
        with pytest.raises(KeyboardInterrupt):
            convert_packaged(tmp_path)
    assert list(tmp_path.iterdir()) == []
    folder = convert_packaged(tmp_path)  # the next start converts cleanly
    shown = capsys.readouterr()
    assert shown.out == "", "stdout may be JSON (ask --json): progress goes to stderr"
    assert "Preparing the packaged model" in shown.err
    assert load_model(str(folder), "nf4", tmp_path).footprint_bytes > 0


def test_a_missing_model_folder_says_what_to_do(tmp_path):
    with pytest.raises(ModelError, match="QUANTUTOR_MODEL: .* is not a model folder"):
        load_model(str(tmp_path / "nowhere"), "nf4", tmp_path)


def test_a_hub_id_offline_fails_fast_and_clearly(tmp_path):
    started = time.perf_counter()
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE=1"):
        load_model("someone/not-downloaded-model", "nf4", tmp_path)
    assert time.perf_counter() - started < 30


async def test_streaming_and_a_cancelled_request_do_not_wedge_the_worker(service):
    pieces = []
    messages = [{"role": "user", "content": "Explain int8 quantization in detail."}]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(service.generate(messages, pieces.append), timeout=0.5)
    started = time.perf_counter()
    generation = await service.generate([{"role": "user", "content": "Say hello."}], pieces.append)
    assert generation.text
    assert pieces and pieces[-1].strip() == generation.text
    assert time.perf_counter() - started < 30


COPYING = [  # a draft that copies its source, as answers do: prompt lookup's proposals hit
    {"role": "system", "content": "Answer from the source, citing it."},
    {
        "role": "user",
        "content": "Sources:\n[1] NF4 is a 4-bit data type whose 16 levels are quantiles of "
        "a normal distribution. It is used by QLoRA to store frozen weights.\n\n"
        "Question: What is NF4?",
    },
]


@pytest.mark.model  # loads the real model
def test_prompt_lookup_drafts_what_plain_greedy_decoding_drafts(settings):
    """bf16, where the arithmetic of one pass over the proposals matches one token at a
    time; the draft streams whole and still stops at its sentence limit."""
    lookup = load_configured(settings.model_copy(update={"quantization": "none"}))
    plain = load_configured(
        settings.model_copy(update={"quantization": "none", "prompt_lookup": False})
    )
    assert lookup.prompt_lookup and not plain.prompt_lookup
    for max_sentences in (None, 1):
        pieces = []
        drafted = lookup.generate_batch(
            [GenerationRequest(COPYING, 48, pieces.append, max_sentences=max_sentences)]
        )[0]
        expected = plain.generate_batch(
            [GenerationRequest(COPYING, 48, max_sentences=max_sentences)]
        )[0]
        assert drafted.text == expected.text
        assert "".join(pieces).strip() == drafted.text
    assert len(complete_sentences(drafted.text)) == 1
