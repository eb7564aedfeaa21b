"""SIGKILL a worker mid-action, again and again: the store never holds half an action,
never loses a completed one, and every quiz resumes where it stopped.

tests/crash_worker.py does quiz answers and review decisions on one SQLite store and
reports each action before it starts and after it commits; its output is the ground
truth of what completed. After each kill the store is reopened and checked against it.
"""

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from quiz.bank import load_bank
from quiz.engine import QuizSession
from tutor.quizzes import QuizDesk
from tutor.storage import Store

WORKER = Path(__file__).with_name("crash_worker.py")
KILLS = 150
BANK, GUILD, USERS = "deep_dive", "crash-guild", ("u1", "u2", "u3")
LINE_TIMEOUT_S = 30


@dataclass
class Ledger:
    """Everything the worker reported as completed, across all its restarts."""

    quizzes: dict[str, tuple[int, int]] = field(default_factory=dict)  # user: (seed, answered)
    results: dict[str, int] = field(default_factory=dict)  # user: quizzes finished
    reviews: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # id: status, mod
    done: int = 0

    def record(self, action: str, fields: list[str]) -> None:
        self.done += 1
        if action == "start":
            user, seed, answered = fields
            self.quizzes[user] = (int(seed), int(answered))
        elif action == "answer":
            user, seed, answered, finished = fields
            self.quizzes[user] = (int(seed), int(answered))
            self.results[user] = self.results.get(user, 0) + int(finished)
        elif action == "add":
            self.reviews[int(fields[1])] = ("pending", None)
        elif action == "resolve":
            review_id, decision, moderator = fields
            self.reviews[int(review_id)] = (decision, moderator)


class Worker:
    """The fork server, with its output read on a thread so that it never blocks on a pipe."""

    def __init__(self, database: Path, stderr):
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), str(database)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own process group: close() ends server and children
        )
        self.deadline = time.monotonic() + LINE_TIMEOUT_S
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next_line() == "ready"

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self) -> str:
        """The next line, or a failure once this run has taken too long (never a hang)."""
        assert time.monotonic() < self.deadline, "the crash worker is stuck"
        return self.lines.get(timeout=LINE_TIMEOUT_S)

    def run_and_kill(self, seed: int, delay_s: float | None) -> list[str]:
        """Start a child, SIGKILL it `delay_s` after it opened the store (None: at once)."""
        self.deadline = time.monotonic() + LINE_TIMEOUT_S
        self.process.stdin.write(f"run {seed}\n")
        self.process.stdin.flush()
        lines = []  # parent and child share the pipe: "child <pid>" may come after "started"
        while not (line := self.next_line()).startswith("child "):
            lines.append(line)
        pid = int(line.split()[1])
        try:
            if delay_s is not None:
                while "started" not in lines:
                    lines.append(self.next_line())
                time.sleep(delay_s)
        finally:
            os.kill(pid, signal.SIGKILL)
        while (line := self.next_line()) != "reaped":
            lines.append(line)
        return lines

    def close(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=LINE_TIMEOUT_S)


def replay(ledger: Ledger, lines: list[str]) -> tuple[str, list[str]] | None:
    """Record the completed actions; return the one in flight when the kill came, if any."""
    in_flight = None
    for line in lines:
        assert not line.startswith("error"), f"the worker failed on its own: {line}"
        if line == "started":
            continue
        kind, action, *fields = line.split()
        if kind == "begin" and action == "answer":  # the restarted worker resumes the quiz
            user, seed, answered = fields
            assert ledger.quizzes[user] == (int(seed), int(answered)), line
        if kind == "begin":
            in_flight = (action, fields)
        else:
            ledger.record(action, fields)
            in_flight = None
    return in_flight


def check_quizzes(store: Store, ledger: Ledger, in_flight) -> bool:
    """Each session is the last completed one, or that plus the answer or start in flight."""
    applied = False
    bank = load_bank(BANK)
    total = len(bank.questions)
    for user in USERS:
        state = store.load_quiz(user, GUILD, BANK)
        expected = ledger.quizzes.get(user)
        actual = None if state is None else (state["rng_seed"], len(state["answers"]))
        quiz_action = in_flight and in_flight[0] in ("answer", "start")
        flying = in_flight if quiz_action and in_flight[1][0] == user else None
        finishing = 0
        if actual != expected:
            assert flying is not None, f"{user}: stored {actual}, completed {expected}"
            action, fields = flying
            if action == "answer":
                assert expected == (int(fields[1]), int(fields[2])), (expected, fields)
                assert actual == (expected[0], expected[1] + 1), (actual, expected)
                finishing = int(actual[1] == total)
            else:  # a start replaces a finished (or missing) session with a fresh one
                assert actual[1] == 0 and str(actual[0]) != fields[1], (actual, fields)
            applied = True
        results = store.quiz_score(user, GUILD, BANK)
        attempts = results.attempts if results else 0
        assert attempts == ledger.results.get(user, 0) + finishing, user
        ledger.results[user] = attempts
        if state is None:
            continue
        ledger.quizzes[user] = actual
        session = QuizSession.from_dict(state, bank)  # resumable: matches the bank
        view = QuizDesk(store).current(user, GUILD, BANK)
        if session.finished:
            assert view is None
        else:
            assert view.number == len(session.answers) + 1  # resumes at the next question
    return applied


def check_reviews(store: Store, ledger: Ledger, in_flight) -> bool:
    """Completed decisions are all there; the one in flight is all or nothing."""
    applied = False
    rows = {r.id: r for r in store.list_reviews(None, limit=10**6)}
    for review_id, (status, moderator) in ledger.reviews.items():
        assert review_id in rows, f"completed review #{review_id} is lost"
        review = rows.pop(review_id)
        if (review.status, review.moderator) != (status, moderator):
            assert in_flight and in_flight[0] == "resolve", (review_id, review.status)
            flying_id, decision, flying_moderator = in_flight[1]
            assert int(flying_id) == review_id and status == "pending"
            assert (review.status, review.moderator) == (decision, flying_moderator)
            applied = True
        ledger.reviews[review_id] = (review.status, review.moderator)
    if rows:  # only the add in flight may have committed unreported
        assert in_flight and in_flight[0] == "add" and len(rows) == 1, list(rows)
        (review,) = rows.values()
        assert review.question == f"crash {in_flight[1][0]}" and review.status == "pending"
        ledger.reviews[review.id] = ("pending", None)
        applied = True
    return applied


def check_invariants(store: Store) -> None:
    """No half-applied action: a decision's status, moderator, time and event row agree,
    and a quiz's finished flag matches its answers."""
    with store._lock:  # the store offers no query for these; read them under its lock
        events = store._conn.execute("SELECT * FROM review_events ORDER BY id").fetchall()
        sessions = store._conn.execute("SELECT * FROM quiz_sessions").fetchall()
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    total = len(load_bank(BANK).questions)
    for row in sessions:  # the finished flag was saved with the answer that finished it
        answered = len(json.loads(row["state_json"])["answers"])
        assert row["finished"] == (answered == total), dict(row)
    by_review = {}
    for event in events:
        assert event["review_id"] not in by_review, "a review decided twice"
        by_review[event["review_id"]] = event
    for review in store.list_reviews(None, limit=10**6):
        event = by_review.pop(review.id, None)
        if review.status == "pending":
            assert event is None and review.moderator is None and review.resolved_at is None
            continue
        assert review.moderator and review.resolved_at, review
        assert (event["action"], event["moderator"], event["at"]) == (
            review.status,
            review.moderator,
            review.resolved_at,
        )
        assert (review.correction is not None) == (review.status == "corrected")
    assert not by_review, "events for reviews that do not exist"


def test_sigkill_at_random_points_never_leaves_half_an_action(tmp_path):
    rng = random.Random(20260601)
    database = tmp_path / "crash.sqlite3"
    ledger = Ledger()
    in_flight_kills = applied = 0
    with open(tmp_path / "worker.stderr", "w") as stderr:
        worker = Worker(database, stderr)
        try:
            for _ in range(KILLS):
                # One kill in ten lands while the store is being opened; the rest mid-loop.
                delay = None if rng.random() < 0.1 else rng.uniform(0.0, 0.02)
                in_flight = replay(ledger, worker.run_and_kill(rng.randrange(2**31), delay))
                store = Store(database)
                try:
                    quizzes = check_quizzes(store, ledger, in_flight)
                    reviews = check_reviews(store, ledger, in_flight)
                    check_invariants(store)
                finally:
                    store.close()
                in_flight_kills += in_flight is not None
                applied += quizzes or reviews
        finally:
            worker.close()
    assert (tmp_path / "worker.stderr").read_text() == ""
    assert not list(tmp_path.glob("*.corrupt-*")), "the store was found damaged"
    # Kills landed mid-action, both before and after the commit, and work got done.
    assert in_flight_kills >= KILLS // 4 and 0 < applied < in_flight_kills
    assert ledger.done >= KILLS
    assert any(ledger.results.values()), "no quiz was finished and restarted"
    print(
        f"{KILLS} kills, {in_flight_kills} mid-action ({applied} of those had committed), "
        f"{ledger.done} completed actions, {len(ledger.reviews)} reviews, "
        f"{sum(ledger.results.values())} quizzes finished"
    )
