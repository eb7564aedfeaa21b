import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quiz.bank import ChoiceQuestion, FreeTextQuestion, load_bank
from quiz.engine import QuizError, QuizSession

LESSON = load_bank("lesson")
DEEP_DIVE = load_bank("deep_dive")
RIGHT_FREE_TEXT = "a right free-text answer"
MOST_QUESTIONS = max(len(LESSON.questions), len(DEEP_DIVE.questions))


def fake_grader(question, reply):
    """Free text without the embedding model, for the tests that are not about grading."""
    return reply == RIGHT_FREE_TEXT


def start(bank=LESSON, seed=7):
    return QuizSession.start(bank, user_id=42, rng_seed=seed, grader=fake_grader)


def right_reply(session):
    view = session.current()
    question = session.bank.question(view.question_id)
    if not isinstance(question, ChoiceQuestion):
        return RIGHT_FREE_TEXT
    return string.ascii_uppercase[view.options.index(question.correct_option)]


def wrong_reply(session):
    view = session.current()
    if view.free_text:
        return "ask the AI again if it sounds confident"
    right = right_reply(session)
    return next(letter for letter, _ in view.lettered_options if letter != right)


def answer_current(session, reply_for):
    return session.answer(session.current().question_id, reply_for(session))


def test_a_new_session_shows_the_first_question_with_lettered_options():
    view = start().current()
    assert (view.number, view.total) == (1, 10)
    assert view.prompt == LESSON.questions[0].question
    assert sorted(view.options) == sorted(LESSON.questions[0].options)
    assert [letter for letter, _ in view.lettered_options] == ["A", "B", "C", "D"]
    assert view.text().startswith("Question 1/10: What is the main idea")


def test_q8_is_shown_as_free_text():
    session = start()
    for _ in range(7):
        answer_current(session, right_reply)
    view = session.current()
    assert view.number == 8
    assert view.free_text and view.options == ()
    assert "own words" in view.text()


@pytest.mark.parametrize("bank", [LESSON, DEEP_DIVE], ids=lambda bank: bank.name)
def test_scripted_run_answering_all_correctly_scores_full_marks(bank):
    session = QuizSession.start(bank, user_id="u1", rng_seed=3)  # the real Q8 grader
    while not session.finished:
        question = bank.question(session.current().question_id)
        if isinstance(question, FreeTextQuestion):
            reply = question.reference_answer
        else:
            reply = right_reply(session)
        assert session.answer(question.id, reply).correct, question.id
    summary = session.summary()
    assert summary.score == summary.total == len(bank.questions)
    assert summary.missed == ()
    assert summary.ask_next == bank.follow_up


def test_scripted_run_answering_all_wrongly_scores_zero():
    session = QuizSession.start(LESSON, user_id="u1", rng_seed=3)  # the real Q8 grader
    results = [answer_current(session, wrong_reply) for _ in range(10)]
    assert not any(result.correct for result in results)
    summary = session.summary()
    assert (summary.score, summary.total) == (0, 10)
    assert [missed.number for missed in summary.missed] == list(range(1, 11))
    assert summary.ask_next == LESSON.questions[0].ask_tutor


def test_answer_result_gives_explanation_correct_option_and_sources():
    session = start()
    view = session.current()
    right = right_reply(session)
    wrong = wrong_reply(session)
    result = session.answer(view.question_id, wrong)
    first = LESSON.questions[0]
    assert not result.correct
    assert result.your_answer == view.options[string.ascii_uppercase.index(wrong)]
    assert result.correct_answer == first.correct_option
    assert result.correct_letter == right
    assert result.explanation == first.explanation
    assert result.sources == first.sources
    assert not result.finished


def test_free_text_result_shows_the_reference_answer():
    session = start()
    for _ in range(7):
        answer_current(session, right_reply)
    result = answer_current(session, wrong_reply)
    assert not result.correct
    assert result.correct_answer == LESSON.questions[7].reference_answer
    assert result.correct_letter is None


def test_summary_lists_missed_questions_with_explanations():
    session = start()
    for number in range(1, 11):
        answer_current(session, wrong_reply if number in (3, 8) else right_reply)
    summary = session.summary()
    assert summary.finished and summary.score == 8
    assert [missed.number for missed in summary.missed] == [3, 8]
    missed_q3 = summary.missed[0]
    assert missed_q3.explanation == LESSON.questions[2].explanation
    assert missed_q3.correct_answer == "int8: minimal quality loss across most workloads"
    assert missed_q3.your_answer != missed_q3.correct_answer
    assert summary.ask_next == LESSON.questions[2].ask_tutor


def test_answers_by_lowercase_letter_and_by_index():
    session = start()
    letter = right_reply(session)
    assert session.answer(LESSON.questions[0].id, letter.lower()).correct
    index = string.ascii_uppercase.index(right_reply(session))
    assert session.answer(LESSON.questions[1].id, index).correct


def assert_refused(session, question_id, reply, message):
    before = session.to_dict()
    with pytest.raises(QuizError, match=message):
        session.answer(question_id, reply)
    assert session.to_dict() == before, "a refused answer must change nothing"


def test_answering_the_same_question_twice_is_refused():
    session = start()
    first = session.current().question_id
    answer_current(session, right_reply)
    assert_refused(session, first, "A", "Question 1 is already answered")


def test_answering_a_question_that_is_not_current_is_refused():
    session = start()
    assert_refused(session, LESSON.questions[4].id, "A", "Question 5 is not the current question")
    assert_refused(session, "no-such-question", "A", "no question 'no-such-question'")


def test_answering_after_finishing_is_refused():
    session = start()
    for _ in range(10):
        answer_current(session, right_reply)
    assert session.finished
    with pytest.raises(QuizError, match="finished"):
        session.current()
    assert_refused(session, LESSON.questions[9].id, "A", r"This quiz is finished \(10/10\)")


def test_a_typed_option_number_counts_from_one_as_people_do():
    session = start()
    shown = string.ascii_uppercase.index(right_reply(session)) + 1
    assert session.answer(LESSON.questions[0].id, f" {shown} ").correct
    assert session.answer(LESSON.questions[1].id, f"{right_reply(session)})").correct


@pytest.mark.parametrize("reply", ["E", "AB", "", "0", "5", 4, -1, True, None])
def test_an_out_of_range_option_is_refused(reply):
    session = start()
    assert_refused(session, session.current().question_id, reply, "answer with a letter A-D")


def test_an_empty_free_text_reply_is_refused():
    session = start()
    for _ in range(7):
        answer_current(session, right_reply)
    assert_refused(session, session.current().question_id, "   ", "in your own words")


def test_sessions_with_different_seeds_shuffle_differently():
    orders = {start(seed=seed).current().options for seed in range(10)}
    assert len(orders) > 1


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**63),
    bank=st.sampled_from([LESSON, DEEP_DIVE]),
    rights=st.lists(st.booleans(), min_size=MOST_QUESTIONS, max_size=MOST_QUESTIONS),
)
def test_the_key_follows_the_shuffle(seed, bank, rights):
    session = start(bank, seed)
    for right, question in zip(rights, bank.questions, strict=False):
        view = session.current()
        if isinstance(question, ChoiceQuestion):
            assert sorted(view.options) == sorted(question.options)
        result = answer_current(session, right_reply if right else wrong_reply)
        assert result.correct == right
        if result.correct_letter is not None:
            shown = view.options[string.ascii_uppercase.index(result.correct_letter)]
            assert shown == question.correct_option
    assert session.score == sum(rights[: len(bank.questions)])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**63),
    bank=st.sampled_from([LESSON, DEEP_DIVE]),
    data=st.data(),
)
def test_a_session_survives_a_restart_mid_quiz(seed, bank, data):
    session = start(bank, seed)
    answered = data.draw(st.integers(min_value=0, max_value=len(bank.questions) - 1))
    for number in range(answered):
        answer_current(session, right_reply if number % 3 else wrong_reply)

    restored = QuizSession.from_dict(json.loads(json.dumps(session.to_dict())), grader=fake_grader)

    assert restored == session
    assert restored.current() == session.current()
    reply = right_reply(session)
    assert restored.answer(restored.current().question_id, reply) == session.answer(
        session.current().question_id, reply
    )
    assert restored.summary() == session.summary()


def test_a_stored_session_keeps_user_and_seed():
    stored = start(seed=99).to_dict()
    assert (stored["user_id"], stored["rng_seed"], stored["bank"]) == ("42", 99, "lesson")
    restored = QuizSession.from_dict(stored)
    assert (restored.user_id, restored.rng_seed, restored.bank.name) == ("42", 99, "lesson")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rng_seed": "not a number"}, "malformed"),
        ({"format": 99}, "malformed"),
        ({"bank": "nope"}, "no quiz bank named 'nope'"),
        (
            {
                "answers": [
                    {"question_id": "q5-quantize-then-reeval", "reply": "x", "correct": True}
                ]
            },
            "does not match the 'lesson' bank",
        ),
    ],
)
def test_a_broken_stored_session_is_refused(change, message):
    with pytest.raises(QuizError, match=message):
        QuizSession.from_dict({**start().to_dict(), **change})


def test_start_without_a_seed_draws_one():
    assert QuizSession.start(LESSON, user_id=1).rng_seed != QuizSession.start(LESSON, 1).rng_seed
