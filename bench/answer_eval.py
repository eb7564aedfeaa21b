"""Answer quality: key-fact recall, citation accuracy and latency of `quantutor ask --json -`.

Runs the labelled questions in tutor/lab/data/questions.jsonl through the command line
exactly as a user would and prints, for the configured model and precision:
- key-fact recall: the share of answers whose sentences (what the sources say + the
  model's draft) match the question's key-fact regex;
- citation accuracy: the share of answers that cite the document the question is about;
- latency: median and p95 of the answer's own total time, and its breakdown;
- the draft's sentences by status (how much the verifier flags).

Usage: python bench/answer_eval.py [--limit N] [--out results.jsonl]
(set QUANTUTOR_QUANTIZATION / QUANTUTOR_MODEL to evaluate another configuration)
"""

import argparse
import json
import statistics
import sys
from collections import Counter
from pathlib import Path

from tutor.lab.answers import ask_all, cites_expected, key_fact_found, load_questions


def score(question: dict, record: dict) -> dict:
    sentences = record.get("sentences", [])
    return {
        "question": question["question"],
        "recall": key_fact_found(question, record),
        "cited": cites_expected(question, record),
        "kind": record.get("kind", "error"),
        "total_ms": record.get("timings_ms", {}).get("total"),
        "timings_ms": record.get("timings_ms", {}),
        "draft_statuses": [s["status"] for s in sentences if s.get("origin") == "draft"],
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(results: list[dict], records: list[dict]) -> None:
    n = len(results)
    latencies = [r["total_ms"] for r in results if r["total_ms"] is not None]
    model = next((r.get("model") for r in records if r.get("model")), "?")
    quantization = next((r.get("quantization") for r in records if r.get("quantization")), "?")
    print(f"model {model} ({quantization}), {n} questions")
    print(f"key-fact recall    {sum(r['recall'] for r in results) / n:6.1%}  (target >= 90%)")
    print(f"citation accuracy  {sum(r['cited'] for r in results) / n:6.1%}  (target >= 90%)")
    print(f"latency median     {statistics.median(latencies) / 1000:6.2f} s  (target <= 4 s)")
    print(f"latency p95        {percentile(latencies, 0.95) / 1000:6.2f} s")
    parts = sorted({k for r in results for k in r["timings_ms"]} - {"total"})
    medians = {
        part: statistics.median(r["timings_ms"][part] for r in results if part in r["timings_ms"])
        for part in parts
    }
    breakdown = ", ".join(f"{part} {ms:.0f}" for part, ms in medians.items())
    print(f"median breakdown (ms): {breakdown}")
    statuses = Counter(s for r in results for s in r["draft_statuses"])
    total = sum(statuses.values()) or 1
    print(
        "draft sentences: "
        + ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in statuses.most_common())
    )
    misses = [r for r in results if not (r["recall"] and r["cited"])]
    for r in misses:
        print(f"  miss: recall={r['recall']} cited={r['cited']} kind={r['kind']}: {r['question']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--out", type=Path, help="write every answer as JSON lines here")
    args = parser.parse_args()
    questions = load_questions(args.limit)
    records = ask_all(questions)
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    report([score(q, r) for q, r in zip(questions, records)], records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
