"""The store's behaviour on each backend: SQLite always; PostgreSQL where a test server
is named by QUANTUTOR_TEST_DATABASE_URL (its tables are dropped before each test)."""

import os

import pytest

from tutor.errors import ReviewError, StorageError
from tutor.settings import load_settings
from tutor.storage import Store

POSTGRES_URL = os.environ.get("QUANTUTOR_TEST_DATABASE_URL")
TABLES = "questions, review_events, reviews, quiz_sessions, quiz_results, feedback, guild_settings"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgres",
            marks=pytest.mark.skipif(
                not POSTGRES_URL, reason="QUANTUTOR_TEST_DATABASE_URL names no PostgreSQL server"
            ),
        ),
    ]
)
def store(request, tmp_path):
    if request.param == "sqlite":
        store = Store(tmp_path / "quantutor.sqlite3")
    else:
        Store(POSTGRES_URL).execute(f"DROP TABLE IF EXISTS {TABLES} CASCADE")
        store = Store(POSTGRES_URL)  # creates the tables afresh
    yield store
    store.close()


def test_a_review_is_decided_once_and_ids_count_up(store):
    first = store.add_review("Is int4 lossless?", {"model": "m", "quantization": "nf4"}, "42")
    second = store.add_review("What is NF4?", {"model": "m", "quantization": "nf4"}, "43")
    assert second == first + 1
    assert [r.id for r in store.list_reviews()] == [first, second]
    decided = store.resolve_review(first, "corrected", "mod", "int4 is not lossless.")
    assert decided.status == "corrected" and decided.correction == "int4 is not lossless."
    with pytest.raises(ReviewError, match="already corrected by mod"):
        store.resolve_review(first, "approved", "other")
    assert [r.id for r in store.corrections()] == [first]
    assert store.get_review(first).created_at > 1.7e9  # full-precision timestamps


def test_one_servers_pending_items_are_chosen_in_sql_past_other_servers_older_ones(store):
    with store._transaction() as db:  # 501 older pending items, all from another server
        for n in range(501):
            db.execute(
                "INSERT INTO reviews (question, answer_json, user_id, guild_id, model,"
                " quantization, created_at) VALUES (?, '{}', '1', 'elsewhere', 'm', 'nf4', ?)",
                (f"question {n}", float(n)),
            )
    ours = [store.add_review(f"ours {n}", {"model": "m"}, "7", "ours") for n in range(3)]
    store.resolve_review(ours[1], "rejected", "mod")

    assert [r.id for r in store.list_reviews("pending", 500, guild_id="ours")] == [ours[0], ours[2]]
    assert [r.id for r in store.list_reviews("pending", 1, guild_id="ours")] == [ours[0]]
    assert [r.id for r in store.list_reviews(None, 2, guild_id="ours")] == [ours[2], ours[1]]
    everyone = store.list_reviews("pending", 500)
    assert len(everyone) == 500 and {r.guild_id for r in everyone} == {"elsewhere"}


def test_a_failed_action_leaves_nothing_half_done(store):
    review_id = store.add_review("q", {"model": "m"}, "42")
    with pytest.raises(RuntimeError), store._transaction() as db:
        db.execute("UPDATE reviews SET status = 'approved' WHERE id = ?", (review_id,))
        raise RuntimeError("crash between the two writes")
    assert store.get_review(review_id).status == "pending"


def test_quiz_sessions_resume_and_the_leaderboard_ranks_best_scores(store):
    store.save_quiz("42", "g", "lesson", {"answers": [1]}, result=None)
    assert store.load_quiz("42", "g", "lesson") == {"answers": [1]}
    store.save_quiz("42", "g", "lesson", {"answers": [1, 2]}, result=(6, 10))
    store.save_quiz("42", "g", "lesson", {"answers": []}, result=(4, 10))
    store.save_quiz("7", "g", "lesson", {"answers": []}, result=(9, 10))
    assert store.load_quiz("42", "g", "lesson") == {"answers": []}
    board = store.leaderboard("g", "lesson")
    assert [(s.user_id, s.best, s.latest, s.attempts) for s in board] == [
        ("7", 9, 9, 1),
        ("42", 6, 4, 2),
    ]


def test_a_members_data_is_exported_then_forgotten(store):
    store.log_question("42", "g", "What is NF4?", flagged=True)
    store.log_question("7", "g", "Someone else's question", flagged=False)
    store.add_feedback("42", "What is NF4?", helpful=True)
    store.save_quiz("42", "g", "lesson", {"answers": []}, result=(7, 10))
    review_id = store.add_review("What is NF4?", {"model": "m", "quantization": "nf4"}, "42", "g")
    reported = store.add_review("What is GPTQ?", {"model": "m"}, "7", "g", reporter_id="42")
    expected = {
        "questions": 1,
        "quiz_sessions": 1,
        "quiz_results": 1,
        "feedback": 1,
        "reviews": 1,
        "reports": 1,
    }
    assert store.user_data_counts("42") == expected

    exported = store.export_user("42")
    assert [q["question"] for q in exported["questions"]] == ["What is NF4?"]
    assert exported["feedback"][0]["helpful"] == 1
    assert exported["quiz_results"][0]["score"] == 7
    assert exported["reviews"][0]["id"] == review_id
    assert [(r["id"], r["question"]) for r in exported["reports"]] == [(reported, "What is GPTQ?")]

    assert store.forget_user("42") == expected
    assert not any(store.export_user("42").values())
    assert not any(store.user_data_counts("42").values())
    assert store.get_review(review_id).user_id == "forgotten"
    assert store.get_review(reported).reporter_id == "forgotten"
    assert store.get_review(reported).user_id == "7"  # the asker is someone else
    assert [q["question"] for q in store.export_user("7")["questions"]] == [
        "Someone else's question"
    ]


def test_server_settings_merge(store):
    store.update_guild_settings("g", cooldown_s=5)
    assert store.update_guild_settings("g", mod_role_id=9) == {"cooldown_s": 5, "mod_role_id": 9}
    assert store.guild_settings("g") == {"cooldown_s": 5, "mod_role_id": 9}


def test_an_unreachable_postgres_is_a_clear_error_without_the_password():
    url = "postgresql://tutor:hunter2@127.0.0.1:9/quantutor"  # port 9: nothing listens
    with pytest.raises(StorageError, match="QUANTUTOR_DATABASE_URL: cannot use 127.0.0.1:9/") as e:
        Store.from_settings(load_settings(database_url=url))
    assert "hunter2" not in str(e.value)


def test_a_correction_closes_the_servers_pending_items_asking_the_same_question(store):
    corrected = store.add_review("Is int4 lossless?", {"model": "m"}, "1", "g")
    same = store.add_review("is INT4  lossless", {"model": "m"}, "2", "g")
    other = store.add_review("Is int8 lossless?", {"model": "m"}, "3", "g")
    elsewhere = store.add_review("Is int4 lossless?", {"model": "m"}, "4", "h")
    decided = store.add_review("Is int4 lossless!", {"model": "m"}, "5", "g")
    store.resolve_review(decided, "rejected", "mod")
    assert store.close_answered(corrected) == []  # not corrected yet
    store.resolve_review(corrected, "corrected", "mod", "int4 loses some accuracy.")

    [closed] = store.close_answered(corrected)
    assert closed.id == same and closed.status == "answered" and closed.answered_by == corrected
    assert (closed.moderator, closed.correction) == ("mod", "int4 loses some accuracy.")
    assert [r.id for r in store.answered_by(corrected)] == [same]
    assert store.get_review(other).status == "pending"
    assert store.get_review(elsewhere).status == "pending"
    assert store.get_review(decided).status == "rejected"
    assert [r.id for r in store.corrections()] == [corrected]  # one source, not two
    with pytest.raises(ReviewError, match="already answered by mod"):
        store.resolve_review(same, "approved", "other")
    with pytest.raises(ReviewError, match="Unknown review decision"):
        store.resolve_review(other, "answered", "mod")
    assert store.close_answered(corrected) == []  # nothing left to close
