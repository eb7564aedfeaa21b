"""Quiz answers and review actions on one store, for tests/test_crash_safety.py to SIGKILL.

Imports once, then forks a fresh worker process for every `run <seed>` line on stdin
(a fork starts in milliseconds where a new interpreter takes most of a second), so the
test can kill dozens of workers in a few seconds. Each worker opens the store itself and
loops over actions until it is killed, writing to stdout, flushed:

    begin <action> <fields...>   before the action touches the store
    done <action> <fields...>    after its transaction has committed

The parent reports `child <pid>` after forking and `reaped` once that child is dead.
Only the deep_dive bank is used: it has no free-text question, so no embedding model.

Usage: python tests/crash_worker.py <database path>
"""

import os
import random
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from quiz.bank import load_bank  # noqa: E402
from quiz.engine import QuizError  # noqa: E402
from tutor.errors import ReviewError  # noqa: E402
from tutor.quizzes import QuizDesk  # noqa: E402
from tutor.storage import Store

BANK = "deep_dive"
GUILD = "crash-guild"
USERS = ("u1", "u2", "u3")
DECISIONS = ("approved", "rejected", "corrected")


def say(*fields) -> None:
    """One line in one write: parent and child share the pipe, and a short write is atomic."""
    os.write(1, (" ".join(map(str, fields)) + "\n").encode())


def work(path: Path, seed: int) -> None:
    """Actions until killed: weights favour answers and new reviews, then decisions."""
    rng = random.Random(seed)
    store = Store(path)
    desk = QuizDesk(store)
    say("started")
    actions = (answer,) * 5 + (add_review,) * 2 + (resolve,) * 2 + (refused,)
    for step in range(10**9):
        rng.choice(actions)(store, desk, rng, f"{seed}-{step}")


def answer(store: Store, desk: QuizDesk, rng: random.Random, tag: str) -> None:
    """Answer the current question of a user's quiz, or start a new quiz once finished."""
    user = rng.choice(USERS)
    state = store.load_quiz(user, GUILD, BANK)
    view = desk.current(user, GUILD, BANK)
    if view is None:
        old_seed = state["rng_seed"] if state else "-"
        say("begin start", user, old_seed)
        desk.start(user, GUILD, BANK)
        new = store.load_quiz(user, GUILD, BANK)
        say("done start", user, new["rng_seed"], len(new["answers"]))
        return
    answered = len(state["answers"])
    letter = rng.choice("ABCD"[: len(view.options)])
    say("begin answer", user, state["rng_seed"], answered)
    turn = desk.answer(user, GUILD, BANK, view.question_id, letter)
    say("done answer", user, state["rng_seed"], answered + 1, int(turn.summary is not None))


def add_review(store: Store, desk: QuizDesk, rng: random.Random, tag: str) -> None:
    say("begin add", tag)
    review_id = store.add_review(
        f"crash {tag}", {"model": "m", "quantization": "nf4", "sentences": []}, "u1", GUILD
    )
    say("done add", tag, review_id)


def resolve(store: Store, desk: QuizDesk, rng: random.Random, tag: str) -> None:
    pending = store.list_reviews("pending", limit=50)
    if not pending:
        return
    review = rng.choice(pending)
    decision, moderator = rng.choice(DECISIONS), f"mod-{rng.randrange(5)}"
    correction = f"correction {tag}" if decision == "corrected" else None
    say("begin resolve", review.id, decision, moderator)
    store.resolve_review(review.id, decision, moderator, correction)
    say("done resolve", review.id, decision, moderator)


def refused(store: Store, desk: QuizDesk, rng: random.Random, tag: str) -> None:
    """Actions the store or the engine must refuse without changing anything."""
    decided = [r for r in store.list_reviews(None, limit=50) if r.status != "pending"]
    if decided:
        review = rng.choice(decided)
        try:
            store.resolve_review(review.id, "approved", "late-moderator")
        except ReviewError:
            say("done refused-review", review.id)
    user = rng.choice(USERS)
    try:
        desk.answer(user, GUILD, BANK, "no-such-question", "A")
    except QuizError:
        say("done refused-answer", user)


def main() -> int:
    path = Path(sys.argv[1])
    load_bank(BANK)  # parsed once here, not in every child
    say("ready")
    for line in sys.stdin:
        seed = int(line.split()[1])
        pid = os.fork()
        if pid == 0:
            try:
                work(path, seed)
            except BaseException as error:  # a worker dies only by the test's SIGKILL
                say("error", type(error).__name__)
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(1)
        say("child", pid)
        os.waitpid(pid, 0)
        say("reaped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
