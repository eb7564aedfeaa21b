"""Words and terms: one stopword list and one place that splits text, for the index's
lexical search and for the verifier.

Two splits, for two jobs: `search_terms` are search keys, which keep names like 'q4_k_m',
'6.7b' and 'int8' whole and add their parts; `split_words` keep a sentence's order and its
"n't" and "'s", which the verifier's negation and comparison checks read.
"""

import re

STOPWORDS = frozenset(
    "a about after al also an and are as at be been both by can could did do does each "
    "et for from get had has have how i if in into is it its made make makes me much of "
    "on one only or per same so such than that the their them then there these this "
    "those to use used uses using very was were what when which while who why will with "
    "would you your ".split()
)
_TERM = re.compile(r"[a-z0-9][a-z0-9_.\-]*[a-z0-9]|[a-z0-9]")
_WORD = re.compile(r"[a-z][a-z0-9'\-]*|\d+(?:\.\d+)?")


_BIT_WIDTH = re.compile(r"(\d+)bits?")  # '4bit', as learners and `bnb_4bit_*` write it
# GGUF type names as learners type them ('q4km', 'Q4-K-M', 'iq2xxs'), read as llama.cpp spells them
_GGUF_TYPE = re.compile(r"(q\d)[_\-]?k(?:[_\-]?(xs|s|m|l))?|(iq\d)[_\-]?(xxs|xs|s|m|nl)")


def search_terms(text: str) -> list[str]:
    """Lower-case search terms without stopwords, names kept whole and their parts added;
    '4bit' is read as '4-bit', so a learner's '4bit' finds prose, not only option names,
    and 'q4km' as 'q4_k_m'."""
    found = []
    for term in _TERM.findall(text.lower()):
        if term in STOPWORDS:
            continue
        term = _as_gguf_type(_as_bit_width(term))
        found.append(term)
        found.extend(_as_bit_width(p) for p in re.split(r"[_\-]", term) if p and p != term)
    return found


def _as_bit_width(term: str) -> str:
    match = _BIT_WIDTH.fullmatch(term)
    return f"{match.group(1)}-bit" if match else term


def _as_gguf_type(term: str) -> str:
    match = _GGUF_TYPE.fullmatch(term)
    if not match:
        return term
    if match.group(3):
        return f"{match.group(3)}_{match.group(4)}"
    return f"{match.group(1)}_k" + (f"_{match.group(2)}" if match.group(2) else "")


def split_words(text: str) -> list[str]:
    """The words and plain numbers of lower-cased text, in order, stopwords included."""
    return _WORD.findall(text)
