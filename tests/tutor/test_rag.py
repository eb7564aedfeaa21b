"""What a question takes for granted, read out so the sources can check it."""

import pytest

from tutor.rag import premises_of


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
