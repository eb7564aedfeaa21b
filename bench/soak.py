"""Soak: many questions from many simulated users through the real service, watching memory.

50 users (asyncio tasks) share 500 questions drawn from tutor/lab/data/questions.jsonl, with
some bad inputs mixed in (empty, too long, hidden characters, pings), all through
TutorService.ask with the real model, index and store. As the bot's admission line does,
at most --in-flight questions (default: the model's batch size) are with the model at
once; the others wait their turn, and that wait counts in their latency. A warm-up batch
runs first, so that the model's first allocations are not mistaken for growth.
Prints the errors (target 0:
an exception other than the guard's refusal of a bad input, or a bad input answered),
p50/p95 latency of the answers, and peak RSS at 10%, 50% and 100% of the run with the
growth from the 10% mark to the end (target <= 5%: flat, no leak). Exits 1 if a target
is missed.

    HF_HUB_OFFLINE=1 python bench/soak.py [--questions 500] [--users 50] [--in-flight N]
                                          [--data-dir DIR]

On a 2-core CPU an answer costs seconds: use --questions 60 for a quick check.
RSS depends on glibc's malloc arenas (one set per thread that allocates): compare a run
with MALLOC_ARENA_MAX=2 in the environment to tell arena growth from a leak.
"""

import argparse
import asyncio
import contextlib
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tutor.answer import Asker  # noqa: E402
from tutor.errors import GuardError  # noqa: E402
from tutor.lab.answers import load_questions  # noqa: E402
from tutor.service import TutorService
from tutor.settings import load_settings  # noqa: E402

BAD_INPUTS = (
    "",
    "   \n\t  ",
    "\u200b\u202e\u2066",
    "\x00\x07\x1b",
    "x" * 5000,
)
PINGS = "@everyone <@&123456789012345678> "  # cleaned, then answered like any question
BAD_EVERY = 10  # one question in ten is a bad input
MARKS = (0.10, 0.50, 1.00)
GROWTH_TARGET = 0.05


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Run:
    total: int
    done: int = 0
    errors: list[str] = field(default_factory=list)
    refused: int = 0
    latencies: list[float] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    marks: dict[float, tuple[float, float]] = field(default_factory=dict)  # peak, current

    def finished_one(self) -> None:
        self.done += 1
        for mark in MARKS:
            if mark not in self.marks and self.done >= mark * self.total:
                self.marks[mark] = (peak_rss_mb(), current_rss_mb())
                print(
                    f"  {self.done}/{self.total} done: peak RSS {self.marks[mark][0]:.0f} MB, "
                    f"current {self.marks[mark][1]:.0f} MB, errors {len(self.errors)}",
                    flush=True,
                )


def workload(count: int, seed: int) -> list[tuple[str, bool]]:
    """(text, is_bad) pairs: benchmark questions, every BAD_EVERY-th a bad input."""
    rng = random.Random(seed)
    questions = [q["question"] for q in load_questions()]
    items = []
    for n in range(count):
        if n % BAD_EVERY == BAD_EVERY - 1:
            items.append((rng.choice(BAD_INPUTS), True))
        elif n % BAD_EVERY == BAD_EVERY // 2:
            items.append((PINGS + rng.choice(questions), False))
        else:
            items.append((rng.choice(questions), False))
    return items


async def user(service: TutorService, number: int, queue: asyncio.Queue, gate, run: Run) -> None:
    """One member asking, one question at a time, until the shared queue is empty."""
    asker = Asker(user_id=f"soak-{number}", guild_id="soak", channel_id="soak")
    while not queue.empty():
        text, bad = queue.get_nowait()
        started = time.perf_counter()
        try:
            async with gate:
                answer = await service.ask(text, asker)
        except GuardError:
            if bad:
                run.refused += 1
            else:
                run.errors.append(f"refused a good question: {text[:60]!r}")
        except Exception as error:  # the soak's point: count it, keep going
            run.errors.append(f"{type(error).__name__}: {error} (question {text[:60]!r})")
        else:
            if bad:
                run.errors.append(f"answered a bad input: {text[:60]!r}")
            elif answer.kind == "answer" and not answer.sentences:
                run.errors.append(f"empty answer: {text[:60]!r}")
            else:
                run.latencies.append(time.perf_counter() - started)
                run.kinds[answer.kind] = run.kinds.get(answer.kind, 0) + 1
        run.finished_one()


def percentile(values: list[float], fraction: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


async def soak(
    service: TutorService, items: list[tuple[str, bool]], users: int, in_flight: int
) -> Run:
    gate = asyncio.Semaphore(in_flight) if in_flight else contextlib.nullcontext()
    queue: asyncio.Queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    run = Run(total=len(items))
    await asyncio.gather(*(user(service, n, queue, gate, run) for n in range(users)))
    return run


async def warm_up(service: TutorService, items: list[tuple[str, bool]]) -> None:
    """One batch of real questions before the measured run; its results are not counted."""
    questions = [text for text, bad in items if not bad][: service.settings.max_batch]
    await asyncio.gather(*(service.ask(q, Asker(user_id="warm-up")) for q in questions))


def report(run: Run, seconds: float) -> bool:
    first, middle, last = (run.marks[mark] for mark in MARKS)
    growth = (last[0] - first[0]) / first[0]
    print(
        f"\n{run.total} inputs in {seconds:.0f} s: {len(run.latencies)} answered "
        f"({', '.join(f'{k} {v}' for k, v in sorted(run.kinds.items()))}), "
        f"{run.refused} bad inputs refused"
    )
    print(f"errors: {len(run.errors)} (target 0)")
    for error in run.errors[:20]:
        print(f"  {error}")
    print(
        f"latency: p50 {percentile(run.latencies, 0.50):.1f} s, "
        f"p95 {percentile(run.latencies, 0.95):.1f} s (queueing for the model included)"
    )
    print(
        f"peak RSS: {first[0]:.0f} MB at 10%, {middle[0]:.0f} MB at 50%, {last[0]:.0f} MB at 100%"
    )
    print(
        f"growth from 10% to the end: {growth:+.1%} (target <= {GROWTH_TARGET:.0%}); "
        f"over the second half: {(last[0] - middle[0]) / middle[0]:+.1%}; "
        f"current RSS {first[1]:.0f} -> {middle[1]:.0f} -> {last[1]:.0f} MB"
    )
    return not run.errors and growth <= GROWTH_TARGET


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument(
        "--in-flight",
        type=int,
        help="questions with the model at once (default: max batch; "
        "0: no limit, every user's question goes straight to the model's queue)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--data-dir", type=Path, help="reuse an index and store (default: a fresh temp dir)"
    )
    args = parser.parse_args()
    from tutor.logs import configure_logging

    configure_logging()

    with tempfile.TemporaryDirectory(prefix="quantutor-soak-") as scratch:
        settings = load_settings(data_dir=args.data_dir or Path(scratch))
        started = time.perf_counter()
        service = TutorService.start(settings, progress=False)
        print(
            f"service started in {time.perf_counter() - started:.0f} s "
            f"({service.model_name}, {service.quantization}, max batch "
            f"{settings.max_batch}); peak RSS {peak_rss_mb():.0f} MB",
            flush=True,
        )
        items = workload(args.questions, args.seed)
        in_flight = settings.max_batch if args.in_flight is None else args.in_flight
        try:
            asyncio.run(warm_up(service, items))
            print(
                f"warmed up; peak RSS {peak_rss_mb():.0f} MB; {args.users} users, "
                f"{in_flight or 'unlimited'} in flight",
                flush=True,
            )
            started = time.perf_counter()
            run = asyncio.run(soak(service, items, args.users, in_flight))
            seconds = time.perf_counter() - started
        finally:
            service.close()
    return 0 if report(run, seconds) else 1


if __name__ == "__main__":
    sys.exit(main())
