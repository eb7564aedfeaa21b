"""One stopword list and one place that splits text, for the index and the verifier."""

import pytest

from knowledge.terms import STOPWORDS, search_terms, split_words


def test_search_terms_keep_names_whole_and_add_their_parts():
    assert search_terms("What is the perplexity of Q4_K_M on LLaMA-3?") == [
        "perplexity",
        "q4_k_m",
        "q4",
        "k",
        "m",
        "llama-3",
        "llama",
        "3",
    ]


def test_a_bit_width_written_as_one_word_is_the_same_term_as_hyphenated():
    assert search_terms("is 4bit ok") == search_terms("is 4-bit ok") == ["4-bit", "4", "bit", "ok"]
    assert "8-bit" in search_terms("load_in_8bit=True")


@pytest.mark.parametrize("typed", ["q4km", "Q4-K-M", "q4k_m", "Q4_K_M"])
def test_a_gguf_type_as_learners_type_it_is_the_name_llama_cpp_uses(typed):
    assert search_terms(typed) == search_terms("Q4_K_M") == ["q4_k_m", "q4", "k", "m"]


def test_i_quants_are_read_the_same_way_and_other_q_terms_stay_as_written():
    assert search_terms("iq2xxs q4_0 q4 qk") == search_terms("IQ2_XXS q4_0 q4 qk")
    assert "q4_0" in search_terms("q4_0") and "q4_k" not in search_terms("q4 k")


def test_split_words_keep_order_negations_and_numbers():
    assert split_words("int8 isn't 6.7 times faster") == ["int8", "isn't", "6.7", "times", "faster"]


def test_the_index_and_the_verifier_share_the_stopwords():
    from knowledge import index
    from tutor import verify

    assert verify.STOPWORDS is STOPWORDS
    assert not hasattr(index, "_STOPWORDS")
    assert {"the", "of", "is", "than", "per"} <= STOPWORDS
