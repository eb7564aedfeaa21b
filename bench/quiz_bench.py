"""The time of one quiz answer call with 1,000 sessions in the store (no model on this path).

Starts 1,000 sessions of the lesson quiz in a fresh SQLite store, then answers the
current question of each, one call at a time as the bot would, and prints the median
and 99th-percentile time of `QuizDesk.answer` (load the session, grade, save it in one
transaction). Target: p99 under 20 ms.

Usage: python bench/quiz_bench.py [--sessions 1000] [--rounds 3]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from quiz.bank import load_bank
from tutor.quizzes import QuizDesk
from tutor.storage import Store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="questions answered per session")
    args = parser.parse_args()
    bank = load_bank("lesson")
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "quiz.sqlite3")
        desk = QuizDesk(store)
        views = {f"user-{n}": desk.start(f"user-{n}", "guild") for n in range(args.sessions)}
        times = []
        for _ in range(args.rounds):
            for user, view in views.items():
                correct = bank.question(view.question_id).correct_option
                started = time.perf_counter()
                turn = desk.answer(
                    user, "guild", "lesson", view.question_id, view.options.index(correct)
                )
                times.append((time.perf_counter() - started) * 1000)
                views[user] = turn.next_question
        store.close()
    times.sort()
    p99 = times[int(0.99 * (len(times) - 1))]
    print(
        f"{len(times)} answer calls over {args.sessions} sessions in the store: "
        f"median {statistics.median(times):.2f} ms, p99 {p99:.2f} ms (target p99 < 20 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
