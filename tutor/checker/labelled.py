"""The hand-labelled sets: clean claims and the sentences the model really wrote, each
with a fixed held-out split that calibration and training never see. They ship in the
package (tutor/checker/data) because training the checker at set-up reads them;
bench/verify_eval.py reports on both splits.

Only the training split becomes training pairs; each claim or draft sentence is paired
with the source sentence closest to it in meaning (within its cited document for a
claim, within the sources it was drafted from for a draft sentence).
"""

import hashlib
import json
from functools import cache
from pathlib import Path

import numpy as np

from tutor.checker.pairs import Pair
from tutor.text import split_sentences, strip_citations

DATA = Path(__file__).parent / "data"
CLAIMS = DATA / "claims.jsonl"
DRAFTS = DATA / "drafts.jsonl"
DRAFT_LABELS = ("supported", "false", "vacuous", "not_backed")


def split_of(key: str) -> str:
    """By a hash of the key, stable as a file grows: a third held out, never tuned on; of
    the rest a third for calibrating thresholds ("calibration"), which the checker does
    not learn from either, and the remainder to train it."""
    bucket = int(hashlib.sha1(key.encode()).hexdigest(), 16) % 9
    if bucket % 3 == 0:
        return "held-out"
    return "calibration" if bucket in (1, 4) else "train"


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_claims() -> list[dict]:
    """Clean claims: claim, label (a status), source document; split by the claim."""
    return [{**row, "split": split_of(row["claim"])} for row in _read(CLAIMS)]


def load_drafts() -> list[dict]:
    """Draft sentences: question, sentence, sources, label; split by the question, so
    that no question has sentences on both sides."""
    return [{**row, "split": split_of(row["question"])} for row in _read(DRAFTS)]


def labelled_files_text() -> list[str]:
    return [path.read_text() if path.is_file() else "" for path in (CLAIMS, DRAFTS)]


@cache
def _document_sentences() -> dict[str, list[str]]:
    from knowledge.documents import PACKAGED_SOURCES, chunk_document, load_documents

    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    return {
        doc.doc_id: [
            strip_citations(s) for c in chunk_document(doc) for s in split_sentences(c.text)
        ]
        for doc in documents
    }


def closest(claim: str, candidates: list[str]) -> str:
    from knowledge.embeddings import embed

    if not candidates:
        return ""
    vectors = embed([claim, *candidates])
    return candidates[int(np.argmax(vectors[1:] @ vectors[0]))]


def training_pairs() -> list[Pair]:
    """Pairs from the training splits of both labelled sets."""
    pairs = []
    for row in load_claims():
        sentences = _document_sentences().get(row.get("source", ""), [])
        if row["split"] == "train" and sentences:
            evidence = closest(row["claim"], sentences)
            pairs.append(Pair(evidence, row["claim"], row["label"] == "supported", "claim"))
    for row in load_drafts():
        if row["split"] == "train":
            sentences = [s for src in row["sources"] for s in split_sentences(src["text"])]
            evidence = closest(row["sentence"], [strip_citations(s) for s in sentences])
            pairs.append(Pair(evidence, row["sentence"], row["label"] == "supported", "draft"))
    return pairs
