"""Grading free-text replies by meaning: nearest example answers in embedding space.

A reply is accepted when its cosine similarity to its nearest accepted examples reaches
ACCEPT_SIMILARITY and beats its similarity to the nearest rejected examples by
REJECT_MARGIN. The thresholds were calibrated on hand-labelled replies that are not the
bank's examples (tests/quiz/data/q8_labelled.jsonl); tests/quiz/test_grading.py holds
the accuracy to at least 90% there and on the benchmark's own labelled replies.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from knowledge.embeddings import embed
from quiz.bank import FreeTextQuestion

# Similarities are averaged over this many nearest examples on each side, so that one
# example phrased like the reply by chance does not decide alone.
NEAREST_EXAMPLES = 2
# The reply's mean cosine similarity to its nearest accepted examples must reach this.
ACCEPT_SIMILARITY = 0.20
# ...and beat its similarity to the nearest rejected examples by at least this much.
REJECT_MARGIN = 0.0


@dataclass(frozen=True)
class FreeTextGrade:
    accepted: bool
    accept_similarity: float
    reject_similarity: float

    @property
    def margin(self) -> float:
        return self.accept_similarity - self.reject_similarity


def grade_free_texts(
    replies: Sequence[str], accepted: Sequence[str], rejected: Sequence[str]
) -> list[FreeTextGrade]:
    """Compare replies with example answers by meaning, in one embedding batch."""
    reply_vectors = embed(list(replies))
    accept_similarities = _nearest_means(reply_vectors @ _embed_examples(tuple(accepted)).T)
    reject_similarities = _nearest_means(reply_vectors @ _embed_examples(tuple(rejected)).T)
    return [
        _decide(reply, float(accept), float(reject))
        for reply, accept, reject in zip(
            replies, accept_similarities, reject_similarities, strict=True
        )
    ]


def grade(question: FreeTextQuestion, reply: str) -> FreeTextGrade:
    """Grade a reply to a bank question; its reference answer counts as an accepted example."""
    return grade_replies(question, [reply])[0]


def grade_replies(question: FreeTextQuestion, replies: Sequence[str]) -> list[FreeTextGrade]:
    """Grade many replies at once (an embedding batch is much faster than single calls)."""
    return grade_free_texts(replies, (question.reference_answer, *question.accept), question.reject)


def accepts(question: FreeTextQuestion, reply: str) -> bool:
    """The engine's default grader."""
    return grade(question, reply).accepted


def _decide(reply: str, accept_similarity: float, reject_similarity: float) -> FreeTextGrade:
    passes = (
        bool(reply.strip())  # a blank reply says nothing, however its embedding falls
        and accept_similarity >= ACCEPT_SIMILARITY
        and accept_similarity - reject_similarity >= REJECT_MARGIN
    )
    return FreeTextGrade(passes, accept_similarity, reject_similarity)


@lru_cache(maxsize=64)
def _embed_examples(examples: tuple[str, ...]) -> np.ndarray:
    return embed(list(examples))


def _nearest_means(similarities: np.ndarray) -> np.ndarray:
    """Per row, the mean of the NEAREST_EXAMPLES highest similarities."""
    return np.sort(similarities, axis=1)[:, -NEAREST_EXAMPLES:].mean(axis=1)
