"""Throughput of the model worker: 8 concurrent questions batched vs one at a time.

Builds the real answer prompts (retrieved sources + question) for 8 benchmark questions,
then generates them one at a time (plain greedy decoding, and with prompt lookup as the
worker drafts a request that is alone) and all at once with the same loaded model, and
prints answered tokens per second each way, the batch's speed-up over plain one at a
time (target >= 2.5x) and over prompt lookup, and how many answers came out identical.

Usage: python bench/throughput_bench.py [--quantization nf4|int8|none] [--runs 3]
"""

import argparse
import dataclasses
import statistics
import sys
import time

from tutor.lab.answers import answer_prompts, load_questions
from tutor.logs import configure_logging
from tutor.runtime.base import GenerationRequest
from tutor.runtime.transformers import load_model
from tutor.settings import load_settings

CONCURRENT = 8


def tokens_per_s(run) -> tuple[float, list]:
    started = time.perf_counter()
    results = run()
    return sum(g.new_tokens for g in results) / (time.perf_counter() - started), results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quantization", default="nf4", choices=["nf4", "int8", "none"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    configure_logging()
    settings = load_settings(quantization=args.quantization)
    messages = answer_prompts(settings, [q["question"] for q in load_questions(CONCURRENT)])
    lookup = load_model(settings.model, settings.quantization, settings.cache_dir)
    plain = dataclasses.replace(lookup, prompt_lookup=False)  # the same weights
    limit = settings.max_new_tokens

    def requests():
        return [GenerationRequest(m, limit) for m in messages]

    speeds = {"plain": [], "lookup": [], "batched": []}
    for run in range(args.runs):
        speed, alone = tokens_per_s(lambda: [plain.generate_batch([r])[0] for r in requests()])
        speeds["plain"].append(speed)
        speed, _ = tokens_per_s(lambda: [lookup.generate_batch([r])[0] for r in requests()])
        speeds["lookup"].append(speed)
        speed, together = tokens_per_s(lambda: lookup.generate_batch(requests()))
        speeds["batched"].append(speed)
        same = sum(a.text == b.text for a, b in zip(alone, together))
        print(
            f"run {run + 1}: one at a time {speeds['plain'][-1]:.1f} tok/s, with prompt lookup "
            f"{speeds['lookup'][-1]:.1f}, batched {speeds['batched'][-1]:.1f}, "
            f"identical answers {same}/{CONCURRENT}",
            flush=True,
        )
    median = {mode: statistics.median(values) for mode, values in speeds.items()}
    print(
        f"{settings.quantization}, {CONCURRENT} concurrent questions, up to {limit} new tokens: "
        f"median {median['plain']:.1f} tok/s one at a time, {median['lookup']:.1f} with prompt "
        f"lookup, {median['batched']:.1f} batched; batched is "
        f"{median['batched'] / median['plain']:.2f}x one at a time (target >= 2.5x), "
        f"{median['batched'] / median['lookup']:.2f}x one at a time with prompt lookup"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
