"""How well the verifier flags what it should, on the two hand-labelled sets in bench/data.

- clean claims (claims.jsonl: claim, label as a status, source), each checked alone
  against the whole knowledge base, as `quantutor verify` does;
- real drafts (drafts.jsonl: sentences the packaged model wrote, with the question and
  the sources they were drafted from, labelled supported / false / vacuous /
  not_backed), checked answer by answer against their own sources, as `ask` does.

For each set it prints the training split (what the learned checker learnt from), the
calibration split (what the thresholds were chosen on), the held-out split (never
tuned on) and every sentence together: precision and recall of
flagging (positive = should be flagged: any label but "supported"), balanced accuracy,
the confusion of label against status, for drafts how many of the sentences passed as
supported are false, and the worst misses (the most confident wrong passes, then
false flags). Then the time to check one answer (all its draft sentences) on one
thread. Believe the held-out figures.

    HF_HUB_OFFLINE=1 python bench/verify_eval.py [--split train|calibration|held-out|every|all]
        [--misses 10] [--no-checker]
"""

import argparse
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from knowledge.documents import PACKAGED_SOURCES, Chunk, chunk_document, load_documents  # noqa: E402
from tutor.checker import ensure_checker  # noqa: E402
from tutor.checker.labelled import load_claims, load_drafts  # noqa: E402
from tutor.settings import load_settings  # noqa: E402
from tutor.verify import Verifier  # noqa: E402

STATUSES = ("supported", "uncertain", "overbroad", "contradicted")
TARGETS = {
    "claims": {"recall": 0.90, "precision": 0.85},
    "drafts": {"false_pass": 1 / 15, "precision": 0.85},
    "answer_ms": 150.0,
}


def check_claims(verifier: Verifier, rows: list[dict]) -> list[dict]:
    return [{**row, "verdict": verifier.check_claim(row["claim"])[0]} for row in rows]


def draft_chunks(row: dict) -> list[Chunk]:
    """The sources a draft sentence was written from, as the verifier saw them."""
    return [
        Chunk(s["text"], s["doc_id"], s.get("title", s["doc_id"]), s.get("source", ""))
        for s in row["sources"]
    ]


def answers_of(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Draft sentences grouped into the answers they came from."""
    answers = defaultdict(list)
    for row in rows:
        answers[(row["runtime"], row["question"])].append(row)
    return answers


def check_drafts(verifier: Verifier, rows: list[dict]) -> tuple[list[dict], list[float]]:
    """Each answer's sentences checked together; the time per answer in ms."""
    results, times = [], []
    for (_, question), sentences in answers_of(rows).items():
        start = time.perf_counter()
        verdicts = verifier.check(
            [r["sentence"] for r in sentences], draft_chunks(sentences[0]), question
        )
        times.append((time.perf_counter() - start) * 1000)
        results += [{**r, "verdict": v} for r, v in zip(sentences, verdicts, strict=True)]
    return results, times


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def report(name: str, results: list[dict], label_of, misses: int) -> dict:
    bad = [label_of(r) != "supported" for r in results]
    flagged = [r["verdict"].flagged for r in results]
    tp = sum(b and f for b, f in zip(bad, flagged, strict=True))
    fp = sum(f and not b for b, f in zip(bad, flagged, strict=True))
    fn = sum(b and not f for b, f in zip(bad, flagged, strict=True))
    tn = len(results) - tp - fp - fn
    figures = {
        "n": len(results),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "balanced_accuracy": (_ratio(tp, tp + fn) + _ratio(tn, tn + fp)) / 2,
        "false_pass": _ratio(fn, fn + tn),  # of the sentences shown as supported, how many bad
    }
    print(f"\n== {name}: {len(results)}")
    print(
        f"flagging: precision {figures['precision']:.3f}  recall {figures['recall']:.3f}  "
        f"balanced accuracy {figures['balanced_accuracy']:.3f}  (tp {tp} fp {fp} fn {fn} tn {tn})"
    )
    print(f"passed as supported: {fn + tn}, of them bad: {fn} ({figures['false_pass']:.1%})")
    _print_confusion(results, label_of)
    if misses:
        _print_misses(results, label_of, misses)
    return figures


def _print_confusion(results: list[dict], label_of) -> None:
    confusion = Counter((label_of(r), r["verdict"].status) for r in results)
    labels = sorted({label_of(r) for r in results})
    print("label \\ status   " + " ".join(f"{s[:12]:>12}" for s in STATUSES))
    for label in labels:
        total = sum(confusion[(label, s)] for s in STATUSES)
        cells = " ".join(f"{confusion[(label, s)]:>12}" for s in STATUSES)
        print(f"{label:<15} {cells}   (n={total})")


def _print_misses(results: list[dict], label_of, count: int) -> None:
    passed = [r for r in results if label_of(r) != "supported" and not r["verdict"].flagged]
    flags = [r for r in results if label_of(r) == "supported" and r["verdict"].flagged]
    worst = sorted(passed, key=lambda r: -r["verdict"].score)[:count]
    print(f"worst misses ({len(passed)} bad sentences passed, {len(flags)} good ones flagged):")
    for r in worst + flags[: max(0, count - len(worst))]:
        text = r.get("claim") or r["sentence"]
        print(f"  [{label_of(r)} -> {r['verdict'].status} {r['verdict'].score:.2f}] {text}")
        print(f"      {r['verdict'].reason[:160]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--split", choices=("train", "calibration", "held-out", "every", "all"), default="all"
    )
    parser.add_argument("--misses", type=int, default=10, help="worst misses to list per split")
    parser.add_argument("--no-checker", action="store_true", help="the rules alone")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the budget is for one thread
    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    chunks = [chunk for doc in documents for chunk in chunk_document(doc)]
    checker = None if args.no_checker else ensure_checker(load_settings().cache_dir)
    verifier = Verifier(chunks, checker=checker)
    verifier.check_claim("int8 takes one byte per weight.")  # warm-up
    splits = ("train", "calibration", "held-out", "every")
    names = splits if args.split == "all" else (args.split,)
    figures = {}
    claims = check_claims(verifier, load_claims())
    drafts, times = check_drafts(verifier, load_drafts())
    for set_name, results, label_of in (
        ("clean claims", claims, lambda r: r["label"]),
        ("real drafts", drafts, lambda r: r["label"]),
    ):
        for split in names:
            chosen = results if split == "every" else [r for r in results if r["split"] == split]
            figures[(set_name, split)] = report(
                f"{set_name}, {split}", chosen, label_of, args.misses
            )
    median = statistics.median(times) if times else 0.0
    print(
        f"\nchecking one answer ({len(times)} answers, one thread): median {median:.0f} ms, "
        f"p95 {sorted(times)[int(0.95 * (len(times) - 1))] if times else 0:.0f} ms"
    )
    held = "held-out" if "held-out" in names else names[0]
    claim_figures, draft_figures = figures[("clean claims", held)], figures[("real drafts", held)]
    print(
        f"targets on {held}: claims recall {claim_figures['recall']:.2f} (>= 0.90) at precision "
        f"{claim_figures['precision']:.2f} (>= 0.85); drafts {draft_figures['false_pass']:.1%} "
        f"of passed sentences bad (<= 6.7%) at precision {draft_figures['precision']:.2f} "
        f"(>= 0.85); one answer {median:.0f} ms (<= 150)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
