"""Sentence handling shared by answers and the verifier."""

from tutor.text import citations_in, complete_sentences, repeats, split_sentences


def test_sentences_split_at_boundaries_not_inside_numbers_or_citations():
    text = (
        "LLM.int8() keeps outliers in 16-bit [1]. Outliers appear at 6.7B parameters.\n- NF4 too."
    )
    assert split_sentences(text) == [
        "LLM.int8() keeps outliers in 16-bit [1].",
        "Outliers appear at 6.7B parameters.",
        "NF4 too.",
    ]
    assert citations_in("Q8_0 is close to F16 [2][3] [2].") == [2, 3]


def test_a_sentence_may_start_with_a_lower_case_name():
    # "vLLM's flag ..." and "llama.cpp needs ..." were glued to the sentence before them,
    # so the answer quoted two facts as one and the verifier checked them as one
    text = "vLLM sets scales to 1.0. vLLM's flag skips layers. llama.cpp needs flash attention."
    assert split_sentences(text) == [
        "vLLM sets scales to 1.0.",
        "vLLM's flag skips layers.",
        "llama.cpp needs flash attention.",
    ]
    assert split_sentences("Dettmers et al. found outliers. See e.g. fp16 below.") == [
        "Dettmers et al. found outliers.",
        "See e.g. fp16 below.",
    ]


def test_a_draft_loses_its_cut_off_tail_and_empty_lead_ins():
    draft = "NF4 is a 4-bit type [1]. The answer to the question is: NF4 wastes less than a plain"
    assert complete_sentences(draft) == ["NF4 is a 4-bit type [1]."]
    assert complete_sentences("The answer is: [1]\nInt8 halves memory.") == ["Int8 halves memory."]


def test_a_near_word_for_word_repeat_is_recognised():
    said = ["A 4-bit weight takes 0.5 bytes."]
    assert repeats("A 4-bit weight takes 0.5 bytes [2].", said)
    assert not repeats("Int8 takes 1 byte per weight.", said)


def test_citation_markers_alone_are_not_a_sentence():
    # the packaged model sometimes ends a draft with a bare "[1]."; it became an empty
    # underlined "sentence" in the answer
    assert split_sentences("NF4 is a 4-bit data type [1]. [2].") == [
        "NF4 is a 4-bit data type [1]."
    ]
    assert complete_sentences("[1].") == []
