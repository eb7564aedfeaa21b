"""What a question takes for granted, read out so the sources can check it."""

import pytest

from tutor.rag import premise_correction, premises_of
from tutor.verify import Verdict


@pytest.mark.parametrize(
    ("question", "premise"),
    [
        ("Why is int4 lossless?", "Int4 is lossless."),
        ("So GPTQ needs retraining, right?", "GPTQ needs retraining."),
        ("since KL divergence is less sensitive, why use it?", "KL divergence is less sensitive."),
        ("a 7b model in fp16 is 7 GB, so int8 would be 3.5 GB?", "A 7b model in fp16 is 7 GB."),
        (
            "QLoRA cut 65B fine-tuning to 4 GB, how did they manage that??",
            "QLoRA cut 65B fine-tuning to 4 GB.",
        ),
        ("LLM.int8() was by Frantar right, same people as GPTQ?", "LLM.int8 was by Frantar."),
        (
            "bigger models get hurt the most — so should I avoid 70B?",
            "Bigger models get hurt the most.",
        ),
        ("llama 2 is more sensitive (1.028 vs 1.014), why?", "Llama 2 is more sensitive."),
    ],
)
def test_a_question_s_premise_is_read_out(question, premise):
    assert premise in premises_of(question)


@pytest.mark.parametrize("question", ["What is NF4?", "how much memory does a 70B model need?"])
def test_a_plain_question_assumes_nothing(question):
    assert premises_of(question) == []


def _opposed(premise: str) -> Verdict:
    reason = "the source says otherwise: “…” [1]"
    return Verdict(premise, "contradicted", 0.9, reason, 0, "polarity")


@pytest.mark.parametrize(
    "premise",
    [
        "Turned on the fp8 kv cache in vllm but latency didnt improve at all.",
        "Ran llama-server with -ctv q4_0 and it quit.",
        "I quantized it and my ppl is 19.4.",
    ],
)
def test_what_the_asker_did_and_saw_is_never_corrected(premise):
    assert premise_correction(premise, _opposed(premise), asks_why=False) is None


def test_a_claim_that_opens_with_a_participle_is_still_corrected():
    premise = "Quantized models never lose accuracy."
    assert premise_correction(premise, _opposed(premise), asks_why=False) is not None
