"""Quiz sessions through the store, as the console and the bot use them."""

import pytest

from quiz.bank import load_bank
from quiz.engine import QuizError
from tutor.quizzes import QuizDesk
from tutor.storage import Store

Q8_REPLY = "Check it against the original paper or another trusted source."


def right_reply(view, bank):
    question = bank.question(view.question_id)
    if view.free_text:
        return Q8_REPLY
    return "ABCD"[view.options.index(question.correct_option)]


def test_a_session_resumes_after_a_restart_and_scores_once(tmp_path):
    bank = load_bank("lesson")
    store = Store(tmp_path / "q.sqlite3")
    view = QuizDesk(store).start("u1", "g1")
    for _ in range(4):
        view = (
            QuizDesk(store)
            .answer("u1", "g1", "lesson", view.question_id, right_reply(view, bank))
            .next_question
        )
    store.close()

    store = Store(tmp_path / "q.sqlite3")  # a restart
    desk = QuizDesk(store)
    resumed = desk.start("u1", "g1")
    assert resumed == view and resumed.number == 5
    turn = None
    while resumed is not None:
        turn = desk.answer("u1", "g1", "lesson", resumed.question_id, right_reply(resumed, bank))
        resumed = turn.next_question
    assert turn.summary.score == 10 and turn.summary.total == 10
    score = desk.score("u1", "g1")
    assert (score.best, score.latest, score.attempts) == (10, 10, 1)
    assert [s.user_id for s in desk.leaderboard("g1")] == ["u1"]


def test_a_refused_answer_changes_nothing_in_the_store(tmp_path):
    store = Store(tmp_path / "q.sqlite3")
    desk = QuizDesk(store)
    view = desk.start("u2", "g1")
    before = store.load_quiz("u2", "g1", "lesson")
    with pytest.raises(QuizError):
        desk.answer("u2", "g1", "lesson", "q5-quantize-then-reeval", "A")
    with pytest.raises(QuizError):
        desk.answer("u2", "g1", "lesson", view.question_id, "Z")
    assert store.load_quiz("u2", "g1", "lesson") == before


def test_an_unknown_bank_names_the_banks_there_are(tmp_path):
    with pytest.raises(QuizError, match="deep_dive"):
        QuizDesk(Store(tmp_path / "q.sqlite3")).start("u3", "g1", bank="nope")
