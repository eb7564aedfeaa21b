"""The synthetic training pairs: each corruption changes one fact, and the same sources
always give the same pairs."""

import random

import pytest

from tutor.checker import source_texts
from tutor.checker.pairs import (
    append_clause,
    clauses,
    drop_qualifier,
    garble_name,
    negate,
    source_sentences,
    swap_antonym,
    swap_name,
    swap_number,
    swap_numbers_within,
    synthetic_pairs,
)

SENTENCE = "Q4_0 takes 4.34 GiB and has a perplexity of 6.7001 for LLaMA-3-8B."


@pytest.mark.parametrize(
    ("corrupt", "changed"),
    [
        (swap_number, lambda c: "4.34" not in c or "6.7001" not in c),
        (swap_numbers_within, lambda c: c.index("6.7001") < c.index("4.34")),
        (swap_name, lambda c: "Q4_0" not in c or "LLaMA-3" not in c or "GiB" not in c),
        (drop_qualifier, lambda c: "LLaMA" not in c and c.endswith("6.7001.")),
        (garble_name, lambda c: c != SENTENCE),
        (append_clause, lambda c: c.startswith(SENTENCE[:-1] + ", ")),
    ],
)
def test_each_corruption_changes_a_fact(corrupt, changed):
    claim = corrupt(SENTENCE, random.Random(1), [SENTENCE, "AWQ uses activation statistics."])
    assert claim and claim != SENTENCE and changed(claim)


def test_direction_words_and_negations_flip():
    rng = random.Random(0)
    assert swap_antonym("LLaMA-3 is more sensitive than LLaMA-2.", rng, []) in (
        "LLaMA-3 is less sensitive than LLaMA-2.",
        "LLaMA-3 is more robust than LLaMA-2.",
    )
    assert negate("GPTQ needs no retraining.", rng, []) == "GPTQ needs retraining."
    assert negate("int8 is typically lossless.", rng, []) == "int8 is not typically lossless."


def test_a_compound_sentence_gives_its_clauses():
    parts = clauses("int8 is typically lossless, while int4 hits quality cliffs on hard tasks.")
    assert parts == ["Int8 is typically lossless.", "Int4 hits quality cliffs on hard tasks."]


def test_the_same_sources_give_the_same_pairs_with_both_labels():
    sentences = source_sentences(source_texts())
    first, again = synthetic_pairs(sentences), synthetic_pairs(sentences)
    assert first == again
    assert {p.supported for p in first} == {True, False}
    assert all(p.claim != p.evidence for p in first if not p.supported)
