"""Breadth: field questions across the knowledge base's topics (bench/data/field_questions.jsonl:
question, key_fact regex, the source that should be cited, style formal or learner).

- retrieval: recall@1, @3 (what the model is given) and @5 of the expected document,
  per split, topic and style; and the time and size of building the index from scratch;
- with --answers, every question of the split through `quantutor ask --json -` as a user
  asks it: key-fact recall and citation accuracy per topic (a minute per 25 questions).

The splits are by a hash of the question (tutor.checker.labelled.split_of): "held-out"
is never tuned on; "calibration" is the rest. Believe the held-out one.

    HF_HUB_OFFLINE=1 python bench/field_eval.py [--split held-out|calibration|all] [--answers]
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from knowledge.documents import PACKAGED_SOURCES, load_documents  # noqa: E402
from knowledge.index import KnowledgeIndex  # noqa: E402
from tutor.checker.labelled import split_of  # noqa: E402
from tutor.lab.answers import ask_all, cites_expected, key_fact_found  # noqa: E402
from tutor.settings import load_settings  # noqa: E402

DATA = Path(__file__).parent / "data" / "field_questions.jsonl"
DEPTHS = (1, 3, 5)


def load(split: str) -> list[dict]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    for row in rows:
        row["split"] = "held-out" if split_of(row["question"]) == "held-out" else "calibration"
    return [r for r in rows if split in ("all", r["split"])]


def build_index() -> tuple[KnowledgeIndex, float, int]:
    """A fresh index of the packaged sources: it, seconds to build, bytes on disk."""
    folder = Path(tempfile.mkdtemp(prefix="field-eval-"))
    started = time.perf_counter()
    index = KnowledgeIndex(folder, [(PACKAGED_SOURCES, "curated")])
    index.sync(progress=False)
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return index, seconds, size


def table(title: str, groups: dict[str, list[dict]], columns: list[str]) -> None:
    print(f"\n{title:<26}" + "".join(f"{c:>10}" for c in columns) + f"{'n':>6}")
    for name in sorted(groups):
        rows = groups[name]
        shares = [sum(r[c] for r in rows) / len(rows) for c in columns]
        print(f"{name:<26}" + "".join(f"{s:>10.0%}" for s in shares) + f"{len(rows):>6}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="held-out", choices=["held-out", "calibration", "all"])
    parser.add_argument("--answers", action="store_true", help="also answer every question")
    args = parser.parse_args()
    settings = load_settings()
    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    topic_of = {doc.doc_id: doc.topic for doc in documents}
    index, seconds, size = build_index()
    print(
        f"index: {len(documents)} documents, {len(index.chunks)} chunks, built in "
        f"{seconds:.1f} s, {size / 1e6:.1f} MB on disk"
    )
    questions = load(args.split)
    for q in questions:
        found = [
            h.chunk.doc_id
            for h in index.search(q["question"], max(DEPTHS), settings.relevance_floor)
        ]
        for depth in DEPTHS:
            q[f"@{depth}"] = q["source"] in found[:depth]
        q["topic"] = topic_of.get(q["source"], "?")
    shutil.rmtree(index.index_dir, ignore_errors=True)
    columns = [f"@{d}" for d in DEPTHS]
    print(f"{args.split}: {len(questions)} questions")
    table("retrieval, all", {"all": questions}, columns)
    table("retrieval by style", group(questions, "style"), columns)
    table("retrieval by topic", group(questions, "topic"), columns)
    misses = [q for q in questions if not q["@3"]]
    for q in misses:
        print(f"  not in the top 3: [{q['source']}] {q['question']}")
    if args.answers:
        records = ask_all(questions)
        for q, record in zip(questions, records, strict=True):
            q["key fact"] = key_fact_found(q, record)
            q["cited"] = cites_expected(q, record)
            q["both"] = q["key fact"] and q["cited"]
        table("answers, all", {"all": questions}, ["key fact", "cited", "both"])
        table("answers by topic", group(questions, "topic"), ["key fact", "cited", "both"])
        for q in questions:
            if not q["both"]:
                print(f"  miss (fact {q['key fact']}, cited {q['cited']}): {q['question']}")
    return 0


def group(rows: list[dict], key: str) -> dict[str, list[dict]]:
    groups = defaultdict(list)
    for row in rows:
        groups[row[key]].append(row)
    return groups


if __name__ == "__main__":
    sys.exit(main())
