"""Answer quality: key-fact recall, citation accuracy and latency of `quantutor ask --json -`.

Runs the labelled questions in tutor/lab/data/questions.jsonl through the command line
exactly as a user would and prints, for the configured model and precision:
- key-fact recall: the share of answers whose sentences (what the sources say + the
  model's draft) match the question's key-fact regex;
- citation accuracy: the share of answers that cite the document the question is about;
- latency: median and p95 of the answer's own total time, and its breakdown;
- the draft's sentences by status (how much the verifier flags);
- prompt-lookup decoding against plain greedy decoding on the first --drafts questions'
  real answer prompts, each drafted alone, in the transformers runtime (nf4) and, where
  it is installed, llama.cpp: draft tokens per second both ways and how many drafts
  are identical, with where each other one parts from the plain draft.

Usage: python bench/answer_eval.py [--limit N] [--out results.jsonl] [--drafts 10]
(set QUANTUTOR_QUANTIZATION / QUANTUTOR_MODEL / QUANTUTOR_RUNTIME to evaluate another
configuration)
"""

import argparse
import dataclasses
import json
import os
import statistics
import sys
from collections import Counter
from pathlib import Path

from tutor.lab.answers import (
    answer_prompts,
    ask_all,
    cites_expected,
    key_fact_found,
    load_questions,
)
from tutor.runtime import llamacpp
from tutor.runtime.base import GenerationRequest
from tutor.settings import load_settings

LATENCY_TARGETS_S = {"transformers": 2.0, "llamacpp": 1.0}


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
    target = LATENCY_TARGETS_S.get(os.environ.get("QUANTUTOR_RUNTIME", "transformers"))
    goal = f"  (target <= {target:g} s)" if target else ""
    print(f"latency median     {statistics.median(latencies) / 1000:6.2f} s{goal}")
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


def draft_pairs(settings) -> dict:
    """Each runtime's model twice, plain and with prompt lookup: {label: (plain, lookup)}."""
    from tutor.runtime.llamacpp import load_llamacpp
    from tutor.runtime.transformers import load_model

    nf4 = load_model(settings.model, "nf4", settings.cache_dir)
    pairs = {"transformers nf4": (dataclasses.replace(nf4, prompt_lookup=False), nf4)}
    if llamacpp.available():
        pairs["llama.cpp q4_1"] = tuple(
            load_llamacpp(settings.model, settings.cache_dir, prompt_lookup=lookup)
            for lookup in (False, True)
        )
    return pairs


def timed_draft(model, messages: list[dict], max_new_tokens: int) -> tuple[str, float]:
    """The draft alone, as the worker drafts a single request, and its tokens per second."""
    generation = model.generate_batch([GenerationRequest(messages, max_new_tokens)])[0]
    decoding_s = (generation.total_ms - generation.prefill_ms) / 1000
    return generation.text, (generation.new_tokens - 1) / max(decoding_s, 1e-9)


def compare_prompt_lookup(count: int) -> None:
    settings = load_settings()
    questions = [q["question"] for q in load_questions(count)]
    prompts = answer_prompts(settings, questions)
    for label, (plain, lookup) in draft_pairs(settings).items():
        runs = [
            (
                timed_draft(plain, m, settings.max_new_tokens),
                timed_draft(lookup, m, settings.max_new_tokens),
            )
            for m in prompts
        ]
        same = sum(a[0] == b[0] for a, b in runs)
        before = statistics.median(a[1] for a, _ in runs)
        after = statistics.median(b[1] for _, b in runs)
        print(
            f"prompt lookup, {label}: decoding {before:.1f} -> {after:.1f} tok/s median "
            f"({after / before:.2f}x), {same}/{len(runs)} drafts identical to plain greedy"
        )
        for question, ((a, _), (b, _)) in zip(questions, runs):
            if a != b:
                print(f"  differs: {question}\n{parted(a, b)}")


def parted(plain: str, lookup: str) -> str:
    """Where two drafts part: the text around the first character that differs."""
    at = next((i for i, (x, y) in enumerate(zip(plain, lookup)) if x != y), len(plain))
    start = max(0, at - 30)
    return f"    plain:  ...{plain[start : at + 40]!r}\n    lookup: ...{lookup[start : at + 40]!r}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--out", type=Path, help="write every answer as JSON lines here")
    parser.add_argument(
        "--drafts", type=int, default=10, help="prompt lookup vs plain on N prompts (0: skip)"
    )
    args = parser.parse_args()
    questions = load_questions(args.limit)
    records = ask_all(questions)
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    report([score(q, r) for q, r in zip(questions, records)], records)
    if args.drafts:
        compare_prompt_lookup(args.drafts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
