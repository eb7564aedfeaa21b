"""The memory arithmetic: figures a learner can redo by hand, each input cited."""

import pytest

from tutor import memory
from tutor.errors import GuardError


def test_weights_are_parameters_times_bits_per_weight():
    estimate = memory.estimate_for("70B", "4-bit")
    assert estimate.weights_bytes == pytest.approx(35e9)  # 70e9 × 0.5 bytes
    assert estimate.kv_bytes is None  # no shape, no context: said, not guessed
    assert "KV cache" in estimate.render()


def test_block_scales_count_in_the_weights():
    plain, nf4 = memory.estimate_for("7B", "4-bit"), memory.estimate_for("7B", "nf4")
    assert nf4.weights_bytes / plain.weights_bytes == pytest.approx(4.5 / 4)


def test_the_kv_cache_matches_the_figure_its_source_states():
    # kv-cache-memory-formula.md: Llama-3-8B, 8,192 tokens at 16 bits, 1 GiB per sequence
    estimate = memory.estimate_for("Llama-3-8B", "fp16", context=8192)
    assert estimate.kv_bytes == 2**30
    doubled = memory.estimate_for("Llama-3-8B", "fp16", context=8192, batch=2)
    assert doubled.kv_bytes == 2 * estimate.kv_bytes
    fp8 = memory.estimate_for("Llama-3-8B", "fp16", context=8192, kv_precision="fp8")
    assert fp8.kv_bytes == estimate.kv_bytes / 2


def test_a_size_alone_takes_the_kv_shape_all_its_listed_models_share():
    # Llama-2, Llama-3 and Llama-3.1 70B: 80 layers × 8 KV heads × 128; at 16 bits 320 KiB a token
    estimate = memory.estimate_for("70B", "fp16", context=131072)
    assert estimate.kv_bytes == 131072 * 320 * 2**10
    assert "Llama-3.1-70B" in estimate.lines[1].formula  # the learner sees whose shape it is
    assert memory.estimate_for("7B", "fp16", context=4096).kv_bytes is None  # 7B models differ


def test_the_decoding_bound_is_bandwidth_over_bytes_read():
    estimate = memory.estimate_for("70B", "fp16", bandwidth_gbs=3350)
    assert estimate.tokens_per_s_bound == pytest.approx(3350 / 140, rel=1e-6)


def test_a_named_gpu_gives_its_bandwidth_and_memory():
    estimate = memory.estimate_for("70B", "fp16", gpu="H100")  # the SXM part most people mean
    assert estimate.tokens_per_s_bound == pytest.approx(3350 / 140, rel=1e-6)
    fits = estimate.lines[-1]
    assert fits.label == "Fits on one H100 SXM" and fits.result.startswith("no, 60.0 GB short")
    given = memory.estimate_for("70B", "fp16", gpu="H100", bandwidth_gbs=2000)
    assert given.tokens_per_s_bound == pytest.approx(2000 / 140, rel=1e-6)  # the user's figure


@pytest.mark.parametrize(
    "question",
    ["tok/s for a 4bit 70b on an h200?", "can I run a 70B model in 4-bit on an H200 SXM"],
)
def test_a_question_naming_a_gpu_gets_the_bound_and_the_fit(question):
    estimate = memory.from_question(question)
    assert estimate.tokens_per_s_bound == pytest.approx(4800 / 35, rel=1e-6)
    assert estimate.lines[-1].result.startswith("yes")


@pytest.mark.parametrize(
    ("question", "label", "result"),
    [
        ("can a 70b fit in 4bit on two 3090s?", "Fits on 2 × RTX 3090", "yes, 13.0 GB left"),
        ("will a 70b fp16 model fit on 8xA100?", "Fits on 8 × A100 80GB SXM", "yes, 500.0 GB left"),
        ("does a 70B 4-bit fit on 2 x rtx 4090s", "Fits on 2 × RTX 4090", "yes, 13.0 GB left"),
        ("70b in fp16 on a single h100, memory?", "Fits on one H100 SXM", "no, 60.0 GB short"),
    ],
)
def test_several_gpus_are_counted_together(question, label, result):
    fits = memory.from_question(question).lines[-1]
    assert (fits.label, fits.result[: len(result)]) == (label, result)


@pytest.mark.parametrize(
    ("question", "model", "precision", "context"),
    [
        ("How much memory do the weights of a 70B model need at 4-bit?", "a 70B model", "4-bit", 0),
        ("how much vram for llama 2 70b in nf4 with 4k context", "Llama-2-70B", "nf4", 4096),
        ("13b modle in int8, is that about 13 gb?", "a 13B model", "int8", 0),
        ("kv cache of an 8B model at 32k context?", "an 8B model", "fp16", 32768),
        ("will mixtral fit in 48GB at q4_k_m, 32768 tokens", "Mixtral-8x7B", "Q4_K_M", 32768),
    ],
)
def test_a_memory_question_is_read_for_its_model_precision_and_context(
    question, model, precision, context
):
    estimate = memory.from_question(question)
    assert (estimate.model, estimate.precision, estimate.context) == (model, precision, context)


@pytest.mark.parametrize(
    "question",
    ["What is NF4?", "Is a 70B model better at reasoning?", "Is FP8 fast on an H100?"],
)
def test_other_questions_are_not_arithmetic(question):
    assert memory.from_question(question) is None


@pytest.mark.parametrize(
    ("model", "precision", "message"),
    [
        ("a dog", "fp16", "unknown model"),
        ("70B", "fp7", "unknown precision"),
        ("0B", "fp16", "out of range"),
    ],
)
def test_bad_inputs_say_what_is_wrong(model, precision, message):
    with pytest.raises(GuardError, match=message):
        memory.estimate_for(model, precision)


async def test_ask_answers_a_memory_question_with_the_arithmetic_cited(fake_service):
    answer = await fake_service.ask("How much memory do the weights of a 70B model need at 4-bit?")
    assert answer.arithmetic[0].text.startswith("Weights: 70 × 10⁹ parameters × 4 bits")
    assert "35.0 GB" in answer.arithmetic[0].text
    cited = {answer.sources[n - 1].doc_id for s in answer.arithmetic for n in s.citations}
    assert "bytes-per-weight.md" in cited
    assert not answer.draft and not answer.model_text  # no draft to repeat the 7B figures


@pytest.mark.parametrize(
    ("question", "generations"),
    [
        ("can i run an awq model in vllm on a v100", "(Volta, compute capability 7.0)"),
        (
            "my a100 or an h100 for fp8?",
            "(Hopper, compute capability 9.0; Ampere, compute capability 8.0)",
        ),
        ("two 3090s for nf4?", "(Ampere, compute capability 8.6)"),
    ],
)
def test_a_question_naming_a_gpu_is_searched_with_its_generation(question, generations):
    assert memory.with_generation(question) == f"{question} {generations}"


@pytest.mark.parametrize("question", ["What is NF4?", "is an m2 ultra good for gguf?"])
def test_a_question_naming_no_nvidia_gpu_is_searched_as_asked(question):
    assert memory.with_generation(question) == question
