"""Learner questions outside the held-out split become the sources' own questions.

bench/data/field_questions.jsonl labels questions as learners type them with the document
and the key fact that answer them. Each one outside the held-out split
(tutor.checker.labelled.split_of) joins its document's front matter `questions:`, answered
by the sentence that states the key fact (of several, the one closest in meaning to the
question). A learner who asks the same thing in other words then finds that sentence,
where the question's words and the source's rarely meet. The held-out split never joins:
it is what bench/field_eval.py measures, and a test checks that none of it is in the sources.

Run it after adding labelled questions; it adds only what is missing.

    HF_HUB_OFFLINE=1 python bench/learner_questions.py
"""

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from knowledge.documents import (  # noqa: E402
    PACKAGED_SOURCES,
    Document,
    chunk_document,
    load_documents,
    parse_document,
)
from knowledge.embeddings import embed  # noqa: E402
from tutor.checker.labelled import split_of  # noqa: E402
from tutor.text import split_sentences  # noqa: E402

FIELD_QUESTIONS = Path(__file__).parent / "data" / "field_questions.jsonl"
# the last line of a front matter's `questions:` list
_LAST_QUESTION = re.compile(r"^questions:\n(?:  - .*\n)+", re.MULTILINE)


def sentences_of(doc: Document) -> list[str]:
    return [s for chunk in chunk_document(doc) for s in split_sentences(chunk.text)]


def answering_sentence(row: dict, sentences: list[str]) -> str | None:
    """The sentence of `sentences` that states the row's key fact, closest in meaning to
    the question where several do; None where none does."""
    stating = [s for s in sentences if re.search(row["key_fact"], s, re.IGNORECASE)]
    if len(stating) <= 1:
        return stating[0] if stating else None
    vectors = embed([row["question"], *stating])
    return stating[int(np.argmax(vectors[1:] @ vectors[0]))]


def new_questions(rows: list[dict], documents: dict[str, Document]) -> dict[str, list]:
    """Per document, the (question, answer) pairs to add; prints those it cannot place."""
    added = defaultdict(list)
    sentences = {doc_id: sentences_of(doc) for doc_id, doc in documents.items()}
    for row in rows:
        doc = documents[row["source"]]
        if split_of(row["question"]) == "held-out" or row["question"] in {
            q.question for q in doc.questions
        }:
            continue
        answer = answering_sentence(row, sentences[doc.doc_id])
        if answer is None or answer == row["question"]:
            print(f"skipped, no sentence states its key fact: {row['question']}")
            continue
        added[doc.doc_id].append((row["question"], answer))
    return added


def write_questions(doc: Document, pairs: list[tuple[str, str]]) -> None:
    """Appends the pairs to the front matter's `questions:` list, one flow mapping a line
    (JSON strings are valid YAML double-quoted scalars)."""
    text = doc.path.read_text(encoding="utf-8")
    block = _LAST_QUESTION.search(text)
    lines = "".join(
        f"  - {{question: {json.dumps(q, ensure_ascii=False)}, "
        f"answer: {json.dumps(a, ensure_ascii=False)}}}\n"
        for q, a in pairs
    )
    doc.path.write_text(text[: block.end()] + lines + text[block.end() :], encoding="utf-8")
    parse_document(doc.path)  # fails loudly rather than leave a file the index skips


def main() -> None:
    rows = [json.loads(line) for line in FIELD_QUESTIONS.read_text().splitlines() if line]
    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    by_id = {doc.doc_id: doc for doc in documents}
    added = new_questions(rows, by_id)
    for doc_id, pairs in sorted(added.items()):
        write_questions(by_id[doc_id], pairs)
    print(f"added {sum(map(len, added.values()))} questions to {len(added)} documents")


if __name__ == "__main__":
    main()
