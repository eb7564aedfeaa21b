"""Sentence splitting shared by answer composition and the verifier."""

import re

from knowledge.terms import search_terms

# Split after . ! ? when the next sentence starts; not inside "6.7B", "e.g.", "vs." or "[1]".
# A sentence may start with a lower-case name ("vLLM's flag", "llama.cpp needs", "fp16 has"),
# told from an ordinary word by a capital, digit or joining mark inside it.
_ABBREVIATIONS = ("e.g.", "i.e.", "vs.", "et al.", "approx.", "Fig.", "No.")
_LOWER_NAME = r"[a-z][a-z]*(?:[A-Z0-9]|[.\-_'][A-Za-z0-9])"
_BOUNDARY = re.compile(rf"(?<=[.!?])(?:\[\d+\])*\s+(?=[\"'(\[]?[A-Z0-9*_]|{_LOWER_NAME})")
_CITATION = re.compile(r"\s*\[(\d+)\]")


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph or a draft, list markers and blank lines dropped."""
    sentences = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line).strip()
        line = line.lstrip("#").strip()
        if not line:
            continue
        start = 0
        for match in _BOUNDARY.finditer(line):
            head = line[start : match.start()]
            if head.endswith(_ABBREVIATIONS):
                continue
            sentences.append(head.strip())
            start = match.end()
        sentences.append(line[start:].strip())
    # a sentence must say something besides its citation markers: "[1]." is not one
    return [s for s in sentences if re.search(r"[A-Za-z0-9]", strip_citations(s))]


def citations_in(sentence: str) -> list[int]:
    """The [n] markers a sentence carries, in order, without repeats."""
    seen: list[int] = []
    for number in _CITATION.findall(sentence):
        if int(number) not in seen:
            seen.append(int(number))
    return seen


def strip_citations(sentence: str) -> str:
    return _CITATION.sub("", sentence).strip()


def complete_sentences(draft: str) -> list[str]:
    """The draft's sentences without a last one cut off by the token limit."""
    sentences = split_sentences(draft)
    if sentences and not re.search(r"[.!?]\W*$", strip_citations(sentences[-1])):
        sentences.pop()
    # "The answer to the question is:" introduces what the limit then cut off
    return [s for s in sentences if not strip_citations(s).endswith(":")]


def repeats(sentence: str, others: list[str], threshold: float = 0.8) -> bool:
    """True when the sentence says nearly word for word what one of `others` says."""
    mine = set(search_terms(strip_citations(sentence)))
    for other in others:
        theirs = set(search_terms(strip_citations(other)))
        if mine and theirs and len(mine & theirs) / len(mine | theirs) >= threshold:
            return True
    return False
