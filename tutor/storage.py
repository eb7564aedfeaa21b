"""The one module that talks to SQLite: questions asked, the review queue, quiz state, feedback.

WAL mode, one connection guarded by a lock (the bot calls it from the event loop and
from worker threads), and every multi-step change in one transaction so that a
crash leaves either all of an action or none of it.
"""

import json
import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

REVIEW_STATES = ("pending", "approved", "rejected", "corrected")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    guild_id TEXT NOT NULL DEFAULT '',
    question TEXT NOT NULL,
    flagged INTEGER NOT NULL,
    asked_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    answer_json TEXT NOT NULL,
    user_id TEXT NOT NULL,
    guild_id TEXT NOT NULL DEFAULT '',
    channel_id TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL,
    quantization TEXT NOT NULL,
    created_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    moderator TEXT,
    resolved_at REAL,
    correction TEXT
);
CREATE INDEX IF NOT EXISTS reviews_status ON reviews(status, id);
CREATE TABLE IF NOT EXISTS review_events (
    id INTEGER PRIMARY KEY,
    review_id INTEGER NOT NULL REFERENCES reviews(id),
    action TEXT NOT NULL,
    moderator TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS quiz_sessions (
    user_id TEXT NOT NULL,
    guild_id TEXT NOT NULL,
    bank TEXT NOT NULL,
    state_json TEXT NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (user_id, guild_id, bank)
);
CREATE TABLE IF NOT EXISTS quiz_results (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    guild_id TEXT NOT NULL,
    bank TEXT NOT NULL,
    score INTEGER NOT NULL,
    total INTEGER NOT NULL,
    finished_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS quiz_results_board ON quiz_results(guild_id, bank, score);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    question TEXT NOT NULL,
    helpful INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS guild_settings (
    guild_id TEXT PRIMARY KEY,
    settings_json TEXT NOT NULL
);
"""


class StorageError(Exception):
    """The store cannot be opened or used; the message says why."""


class ReviewError(Exception):
    """A review action that cannot be applied (unknown item, already resolved)."""


@dataclass(frozen=True)
class Review:
    id: int
    question: str
    answer: dict
    user_id: str
    guild_id: str
    channel_id: str
    message_id: str
    model: str
    quantization: str
    created_at: float
    status: str
    moderator: str | None
    resolved_at: float | None
    correction: str | None


@dataclass(frozen=True)
class QuizScore:
    user_id: str
    best: int
    latest: int
    total: int
    attempts: int


class Store:
    def __init__(self, path: Path):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(path)
        except sqlite3.DatabaseError as error:
            aside = _move_aside(path)
            log.error("%s is not a usable database (%s): moved it to %s", path, error, aside)
            self._conn = _connect(path)
        except OSError as error:
            raise StorageError(
                f"{path.parent}: cannot create the data directory ({error})"
            ) from None
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self):
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params=()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- questions --------------------------------------------------------------

    def log_question(self, user_id: str, guild_id: str, question: str, flagged: bool) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO questions (user_id, guild_id, question, flagged, asked_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (user_id, guild_id, question, int(flagged), time.time()),
            )

    # -- review queue -----------------------------------------------------------

    def add_review(
        self,
        question: str,
        answer: dict,
        user_id: str,
        guild_id: str = "",
        channel_id: str = "",
        message_id: str = "",
    ) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO reviews (question, answer_json, user_id, guild_id, channel_id,"
                " message_id, model, quantization, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    question,
                    json.dumps(answer),
                    user_id,
                    guild_id,
                    channel_id,
                    message_id,
                    answer.get("model", ""),
                    answer.get("quantization", ""),
                    time.time(),
                ),
            )
            return int(cursor.lastrowid)

    def set_review_message(self, review_id: int, channel_id: str, message_id: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE reviews SET channel_id = ?, message_id = ? WHERE id = ?",
                (channel_id, message_id, review_id),
            )

    def get_review(self, review_id: int) -> Review:
        rows = self._query("SELECT * FROM reviews WHERE id = ?", (review_id,))
        if not rows:
            raise ReviewError(f"There is no review item #{review_id}.")
        return _review(rows[0])

    def list_reviews(self, status: str | None = "pending", limit: int = 20) -> list[Review]:
        if status is None:
            rows = self._query("SELECT * FROM reviews ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._query(
                "SELECT * FROM reviews WHERE status = ? ORDER BY id LIMIT ?", (status, limit)
            )
        return [_review(row) for row in rows]

    def resolve_review(
        self, review_id: int, status: str, moderator: str, correction: str | None = None
    ) -> Review:
        """Apply one moderator decision, once; a second decision gets a ReviewError."""
        if status not in REVIEW_STATES[1:]:
            raise ReviewError(f"Unknown review decision {status!r}.")
        with self._transaction() as db:
            row = db.execute("SELECT status, moderator FROM reviews WHERE id = ?", (review_id,))
            current = row.fetchone()
            if current is None:
                raise ReviewError(f"There is no review item #{review_id}.")
            if current["status"] != "pending":
                raise ReviewError(
                    f"Review item #{review_id} was already {current['status']} "
                    f"by {current['moderator']}; nothing changed."
                )
            now = time.time()
            db.execute(
                "UPDATE reviews SET status = ?, moderator = ?, resolved_at = ?, correction = ?"
                " WHERE id = ?",
                (status, moderator, now, correction, review_id),
            )
            db.execute(
                "INSERT INTO review_events (review_id, action, moderator, at) VALUES (?, ?, ?, ?)",
                (review_id, status, moderator, now),
            )
        return self.get_review(review_id)

    def corrections(self) -> list[Review]:
        rows = self._query("SELECT * FROM reviews WHERE status = 'corrected' ORDER BY id")
        return [_review(row) for row in rows]

    # -- quiz -----------------------------------------------------------------------

    def load_quiz(self, user_id: str, guild_id: str, bank: str) -> dict | None:
        rows = self._query(
            "SELECT state_json FROM quiz_sessions WHERE user_id = ? AND guild_id = ? AND bank = ?",
            (user_id, guild_id, bank),
        )
        return json.loads(rows[0]["state_json"]) if rows else None

    def save_quiz(
        self, user_id: str, guild_id: str, bank: str, state: dict, result: tuple[int, int] | None
    ) -> None:
        """Save the session and, when it has just finished, its result, in one transaction."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO quiz_sessions"
                " (user_id, guild_id, bank, state_json, finished, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (user_id, guild_id, bank) DO UPDATE SET"
                " state_json = excluded.state_json, finished = excluded.finished,"
                " updated_at = excluded.updated_at",
                (user_id, guild_id, bank, json.dumps(state), int(result is not None), time.time()),
            )
            if result is not None:
                db.execute(
                    "INSERT INTO quiz_results (user_id, guild_id, bank, score, total, finished_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (user_id, guild_id, bank, result[0], result[1], time.time()),
                )

    def quiz_score(self, user_id: str, guild_id: str, bank: str) -> QuizScore | None:
        rows = self._query(
            "SELECT score, total FROM quiz_results WHERE user_id = ? AND guild_id = ? AND bank = ?"
            " ORDER BY id",
            (user_id, guild_id, bank),
        )
        if not rows:
            return None
        return QuizScore(
            user_id=user_id,
            best=max(r["score"] for r in rows),
            latest=rows[-1]["score"],
            total=rows[-1]["total"],
            attempts=len(rows),
        )

    def leaderboard(self, guild_id: str, bank: str, limit: int = 10) -> list[QuizScore]:
        rows = self._query(
            "SELECT user_id, MAX(score) AS best, COUNT(*) AS attempts, MAX(total) AS total,"
            " (SELECT score FROM quiz_results r2 WHERE r2.user_id = r.user_id AND"
            "  r2.guild_id = r.guild_id AND r2.bank = r.bank ORDER BY id DESC LIMIT 1) AS latest"
            " FROM quiz_results r WHERE guild_id = ? AND bank = ?"
            " GROUP BY user_id ORDER BY best DESC, MIN(finished_at) LIMIT ?",
            (guild_id, bank, limit),
        )
        return [
            QuizScore(r["user_id"], r["best"], r["latest"], r["total"], r["attempts"]) for r in rows
        ]

    # -- a member's data --------------------------------------------------------------

    _USER_TABLES = ("questions", "quiz_sessions", "quiz_results", "feedback")

    def export_user(self, user_id: str) -> dict:
        """Everything stored about one member, table by table."""
        data = {
            table: [
                dict(r) for r in self._query(f"SELECT * FROM {table} WHERE user_id = ?", (user_id,))
            ]
            for table in self._USER_TABLES
        }
        data["reviews"] = [
            {**dict(r), "answer_json": None}
            for r in self._query("SELECT * FROM reviews WHERE user_id = ?", (user_id,))
        ]
        return data

    def forget_user(self, user_id: str) -> dict[str, int]:
        """Delete a member's questions, quiz state and feedback; anonymize their review items.

        Review items stay (they are the moderators' record) but no longer name the member.
        """
        counts = {}
        with self._transaction() as db:
            for table in self._USER_TABLES:
                counts[table] = db.execute(
                    f"DELETE FROM {table} WHERE user_id = ?", (user_id,)
                ).rowcount
            counts["reviews"] = db.execute(
                "UPDATE reviews SET user_id = 'forgotten' WHERE user_id = ?", (user_id,)
            ).rowcount
        return counts

    # -- feedback and per-server settings -------------------------------------------

    def add_feedback(self, user_id: str, question: str, helpful: bool) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO feedback (user_id, question, helpful, at) VALUES (?, ?, ?, ?)",
                (user_id, question, int(helpful), time.time()),
            )

    def guild_settings(self, guild_id: str) -> dict:
        rows = self._query(
            "SELECT settings_json FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
        return json.loads(rows[0]["settings_json"]) if rows else {}

    def update_guild_settings(self, guild_id: str, **changes) -> dict:
        with self._transaction() as db:
            row = db.execute(
                "SELECT settings_json FROM guild_settings WHERE guild_id = ?", (guild_id,)
            ).fetchone()
            merged = {**(json.loads(row["settings_json"]) if row else {}), **changes}
            db.execute(
                "INSERT INTO guild_settings (guild_id, settings_json) VALUES (?, ?)"
                " ON CONFLICT (guild_id) DO UPDATE SET settings_json = excluded.settings_json",
                (guild_id, json.dumps(merged)),
            )
        return merged


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            conn.close()
            raise sqlite3.DatabaseError("integrity check failed")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(_SCHEMA)
    except sqlite3.OperationalError as error:
        # read-only or full disk, locked file: not corruption, so nothing is moved
        raise StorageError(f"{path}: cannot use the database ({error})") from None
    return conn


def _move_aside(path: Path) -> Path:
    """Keep a damaged database for inspection instead of overwriting it."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    path.rename(aside)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return aside


def _review(row: sqlite3.Row) -> Review:
    data = dict(row)
    data["answer"] = json.loads(data.pop("answer_json"))
    return Review(**data)
