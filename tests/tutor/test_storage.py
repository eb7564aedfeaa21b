"""SQLite's own cases: damaged files kept, unusable places reported, old stores migrated."""

import sqlite3

import pytest

from tutor.errors import StorageError
from tutor.storage import Store


def test_a_corrupted_database_is_moved_aside_not_overwritten(tmp_path, caplog):
    path = tmp_path / "quantutor.sqlite3"
    path.write_bytes(b"this is not SQLite" * 200)
    store = Store(path)
    store.log_question("u", "", "What is NF4?", flagged=False)
    store.close()
    kept = list(tmp_path.glob("quantutor.sqlite3.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not SQLite")
    assert "moved it to" in caplog.text


def test_an_unopenable_path_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("a file where a folder should be")
    with pytest.raises(StorageError, match="cannot create the data directory"):
        Store(tmp_path / "file" / "quantutor.sqlite3")


def test_sql_looking_text_is_stored_as_text(tmp_path):
    store = Store(tmp_path / "q.sqlite3")
    nasty = "'); DROP TABLE reviews; --"
    review_id = store.add_review(nasty, {"model": nasty}, nasty, nasty, nasty, nasty)
    review = store.get_review(review_id)
    assert (review.question, review.user_id, review.model) == (nasty, nasty, nasty)
    assert store.list_reviews()[0].id == review_id


def test_a_store_from_before_answers_were_kept_is_migrated_in_place(tmp_path):
    path = tmp_path / "quantutor.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE questions (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL,"
            " guild_id TEXT NOT NULL DEFAULT '', question TEXT NOT NULL,"
            " flagged INTEGER NOT NULL, asked_at REAL NOT NULL)"
        )
        db.execute("INSERT INTO questions VALUES (1, 'u', '', 'What is NF4?', 0, 1.7e9)")
    store = Store(path)
    assert store.logged_question(1).answer == {}  # the old row is kept
    new = store.log_question("u", "", "What is int8?", False, {"kind": "answer"})
    assert store.logged_question(new).answer == {"kind": "answer"}
    store.close()


def test_a_store_from_before_reporters_and_ratings_by_answer_is_migrated_in_place(tmp_path):
    path = tmp_path / "quantutor.sqlite3"
    Store(path).close()
    with sqlite3.connect(path) as db:  # the tables as they were before these migrations
        db.execute("ALTER TABLE reviews DROP COLUMN reporter_id")
        db.execute("ALTER TABLE reviews DROP COLUMN mod_message_id")
        db.execute("ALTER TABLE feedback DROP COLUMN question_id")
        db.execute(
            "INSERT INTO feedback (user_id, question, helpful, at) VALUES ('u', 'q', 1, 1.7e9)"
        )
    store = Store(path)
    review_id = store.add_review("q", {"model": "m"}, "u", reporter_id="9")
    store.set_review_post(review_id, "1", "2")
    assert store.get_review(review_id).reporter_id == "9"
    assert store.get_review(review_id).mod_message_id == "2"
    assert not store.has_rated("u", 5)  # an old rating belongs to no answer
    store.add_feedback("u", "q", True, question_id=5)
    assert store.has_rated("u", 5) and len(store.export_user("u")["feedback"]) == 2
    store.close()


def test_a_store_from_before_answered_items_is_migrated_in_place(tmp_path):
    path = tmp_path / "quantutor.sqlite3"
    Store(path).close()
    with sqlite3.connect(path) as db:  # the reviews table as it was before the migration
        db.execute("ALTER TABLE reviews DROP COLUMN answered_by")
        db.execute(
            "INSERT INTO reviews (question, answer_json, user_id, model, quantization,"
            " created_at) VALUES ('Is int4 lossless?', '{}', 'u', 'm', 'nf4', 1.7e9)"
        )
    store = Store(path)
    assert store.get_review(1).answered_by is None  # the old row is kept
    corrected = store.add_review("is int4 lossless", {"model": "m"}, "u")
    store.resolve_review(corrected, "corrected", "mod", "int4 loses some accuracy.")
    assert [r.id for r in store.close_answered(corrected)] == [1]
    assert store.get_review(1).answered_by == corrected
    store.close()
