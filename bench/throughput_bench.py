"""Throughput of the model worker: 8 concurrent questions batched vs one at a time.

Builds the real answer prompts (retrieved sources + question) for 8 benchmark questions,
then generates them one at a time and all at once with the same loaded model, and
prints answered tokens per second both ways, the speed-up (target >= 2.5x) and how many
answers came out token-for-token identical.

Usage: python bench/throughput_bench.py [--quantization nf4|int8|none] [--runs 3]
"""

import argparse
import statistics
import sys
import time

from knowledge.index import KnowledgeIndex
from tutor import rag
from tutor.lab.answers import load_questions
from tutor.logs import configure_logging
from tutor.runtime.base import GenerationRequest
from tutor.runtime.transformers import load_model
from tutor.settings import load_settings

CONCURRENT = 8


def prompts(settings) -> list[list[dict]]:
    index = KnowledgeIndex.from_settings(settings)
    index.sync(progress=False)
    questions = [q["question"] for q in load_questions(CONCURRENT)]
    return [
        rag.build_messages(q, index.search(q, settings.top_k), rag.SYSTEM_PROMPTS["answer"])
        for q in questions
    ]


def timed(run) -> tuple[float, list]:
    started = time.perf_counter()
    results = run()
    return time.perf_counter() - started, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quantization", default="nf4", choices=["nf4", "int8", "none"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    configure_logging()
    settings = load_settings(quantization=args.quantization)
    messages = prompts(settings)
    loaded = load_model(settings.model, settings.quantization, settings.cache_dir)
    limit = settings.max_new_tokens

    def requests():
        return [GenerationRequest(m, limit) for m in messages]

    sequential, batched = [], []
    for run in range(args.runs):
        seconds, alone = timed(lambda: [loaded.generate_batch([r])[0] for r in requests()])
        sequential.append(sum(g.new_tokens for g in alone) / seconds)
        seconds, together = timed(lambda: loaded.generate_batch(requests()))
        batched.append(sum(g.new_tokens for g in together) / seconds)
        same = sum(a.text == b.text for a, b in zip(alone, together))
        print(
            f"run {run + 1}: one at a time {sequential[-1]:.1f} tok/s, "
            f"batched {batched[-1]:.1f} tok/s, identical answers {same}/{CONCURRENT}",
            flush=True,
        )
    speedup = statistics.median(batched) / statistics.median(sequential)
    print(
        f"{settings.quantization}, {CONCURRENT} concurrent questions, up to {limit} new tokens: "
        f"median {statistics.median(sequential):.1f} tok/s one at a time, "
        f"{statistics.median(batched):.1f} tok/s batched, speed-up {speedup:.2f}x (target >= 2.5x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
