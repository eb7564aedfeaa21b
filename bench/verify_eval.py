"""How well the verifier flags bad claims: bench/data/claims.jsonl through Verifier.check_claim.

Prints, for the calibration split (train), the held-out third and the full set: a
confusion table, precision and recall of flagging (the positive class is a claim that
should be flagged: any label but "supported"), balanced accuracy of flagging, accuracy
per status and the median and p95 time per claim. Needs neither Chroma nor the model.

    python bench/verify_eval.py [--split train|held-out|full] [--errors] [--threads N]
"""

import argparse
import hashlib
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from knowledge.documents import PACKAGED_SOURCES, chunk_document, load_documents  # noqa: E402
from tutor.verify import Verifier  # noqa: E402

CLAIMS = Path(__file__).parent / "data" / "claims.jsonl"
STATUSES = ("supported", "uncertain", "overbroad", "contradicted")
TARGETS = {"recall": 0.90, "precision": 0.85, "median_ms": 50.0}


def split_of(claim: str) -> str:
    """A fixed third held out by a hash of the text: stable as the file grows."""
    return "held-out" if int(hashlib.sha1(claim.encode()).hexdigest(), 16) % 3 == 0 else "train"


def load_claims(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in rows:
        row["split"] = split_of(row["claim"])
    return rows


def run(verifier: Verifier, rows: list[dict]) -> list[dict]:
    results = []
    for row in rows:
        start = time.perf_counter()
        verdict, _ = verifier.check_claim(row["claim"])
        results.append({**row, "verdict": verdict, "ms": (time.perf_counter() - start) * 1000})
    return results


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def report(name: str, results: list[dict], show_errors: bool) -> dict:
    bad = [r["label"] != "supported" for r in results]
    flagged = [r["verdict"].flagged for r in results]
    tp = sum(b and f for b, f in zip(bad, flagged, strict=True))
    fp = sum(f and not b for b, f in zip(bad, flagged, strict=True))
    fn = sum(b and not f for b, f in zip(bad, flagged, strict=True))
    tn = len(results) - tp - fp - fn
    times = sorted(r["ms"] for r in results)
    figures = {
        "claims": len(results),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "balanced_accuracy": (_ratio(tp, tp + fn) + _ratio(tn, tn + fp)) / 2,
        "median_ms": statistics.median(times) if times else 0.0,
        "p95_ms": times[int(0.95 * (len(times) - 1))] if times else 0.0,
    }
    print(f"\n== {name}: {len(results)} claims")
    print(
        f"flagging: precision {figures['precision']:.3f}  recall {figures['recall']:.3f}  "
        f"balanced accuracy {figures['balanced_accuracy']:.3f}  "
        f"(tp {tp} fp {fp} fn {fn} tn {tn})"
    )
    _print_statuses(results)
    print(f"time per claim: median {figures['median_ms']:.1f} ms  p95 {figures['p95_ms']:.1f} ms")
    if show_errors:
        _print_errors(results)
    return figures


def _print_statuses(results: list[dict]) -> None:
    confusion = Counter((r["label"], r["verdict"].status) for r in results)
    print("label \\ verdict  " + " ".join(f"{s[:12]:>12}" for s in STATUSES) + "   accuracy")
    for label in STATUSES:
        total = sum(confusion[(label, s)] for s in STATUSES)
        cells = " ".join(f"{confusion[(label, s)]:>12}" for s in STATUSES)
        print(f"{label:<15} {cells}   {_ratio(confusion[(label, label)], total):.3f} (n={total})")


def _print_errors(results: list[dict]) -> None:
    for r in results:
        verdict = r["verdict"]
        if (r["label"] != "supported") != verdict.flagged:
            print(f"  [{r['label']} -> {verdict.status} {verdict.score:.2f}] {r['claim']}")
            print(f"      {verdict.reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("train", "held-out", "full", "all"), default="all")
    parser.add_argument("--errors", action="store_true", help="list the misflagged claims")
    parser.add_argument("--claims", type=Path, default=CLAIMS)
    parser.add_argument(
        "--threads", type=int, help="torch threads; 1 keeps one short sentence fast on a busy CPU"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    chunks = [chunk for doc in documents for chunk in chunk_document(doc)]
    start = time.perf_counter()
    verifier = Verifier(chunks)
    print(f"verifier built over {len(chunks)} chunks in {time.perf_counter() - start:.1f} s")
    rows = load_claims(args.claims)
    verifier.check_claim(rows[0]["claim"])  # warm-up: the first embedding call is slow
    results = run(verifier, rows)
    names = ("train", "held-out", "full") if args.split == "all" else (args.split,)
    figures = {}
    for name in names:
        chosen = results if name == "full" else [r for r in results if r["split"] == name]
        figures[name] = report(name, chosen, args.errors)
    full = figures.get("full") or figures[names[0]]
    met = (
        full["recall"] >= TARGETS["recall"]
        and full["precision"] >= TARGETS["precision"]
        and full["median_ms"] < TARGETS["median_ms"]
    )
    print(
        "\ntargets on the full set (recall >= 0.90, precision >= 0.85, median < 50 ms): "
        + ("met" if met else "NOT met")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
