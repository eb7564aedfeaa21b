"""The quiz engine: one session per user per bank, pure and serializable.

A session holds no I/O: the caller stores `to_dict()` (JSON-able) and resumes with
`from_dict()`. Questions come in bank order; each question's options are shuffled
with a seed kept in the session, so a resumed session shows the same order.
"""

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from quiz import grading
from quiz.bank import Bank, BankError, ChoiceQuestion, FreeTextQuestion, Question, load_bank

FreeTextGrader = Callable[[FreeTextQuestion, str], bool]


class QuizError(Exception):
    """An answer or a stored session the engine refuses; the message is for the learner."""


@dataclass(frozen=True)
class QuestionView:
    question_id: str
    number: int  # 1-based position in the quiz
    total: int
    prompt: str
    options: tuple[str, ...]  # in this session's shuffled order; empty for free text

    @property
    def free_text(self) -> bool:
        return not self.options

    @property
    def lettered_options(self) -> tuple[tuple[str, str], ...]:
        return tuple(zip(string.ascii_uppercase, self.options, strict=False))

    def text(self) -> str:
        lines = [f"Question {self.number}/{self.total}: {self.prompt}"]
        lines += [f"{letter}) {option}" for letter, option in self.lettered_options]
        if self.free_text:
            lines.append("(Answer in your own words.)")
        return "\n".join(lines)


@dataclass(frozen=True)
class AnswerResult:
    question_id: str
    number: int
    correct: bool
    your_answer: str
    correct_answer: str  # the correct option's text, or the reference answer for free text
    correct_letter: str | None  # where the correct option sits in this session; None for free text
    explanation: str
    sources: tuple[str, ...]
    finished: bool  # this was the last question


@dataclass(frozen=True)
class MissedQuestion:
    number: int
    question_id: str
    prompt: str
    your_answer: str
    correct_answer: str
    explanation: str
    sources: tuple[str, ...]
    ask_tutor: str


@dataclass(frozen=True)
class Summary:
    bank: str
    title: str
    score: int
    answered: int
    total: int
    missed: tuple[MissedQuestion, ...]
    ask_next: str  # a question to put to the tutor next

    @property
    def finished(self) -> bool:
        return self.answered == self.total


class RecordedAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    question_id: str
    reply: str  # the chosen option's text, or the free-text reply
    correct: bool


class _StoredSession(BaseModel):
    """The JSON-able form of a session: what to_dict writes and from_dict reads."""

    format: Literal[1] = 1  # bump when this shape changes
    bank: str
    user_id: str
    rng_seed: int
    answers: list[RecordedAnswer]


@dataclass
class QuizSession:
    bank: Bank
    user_id: str
    rng_seed: int
    answers: list[RecordedAnswer] = field(default_factory=list)
    grader: FreeTextGrader = field(default=grading.accepts, repr=False, compare=False)

    @classmethod
    def start(
        cls,
        bank: Bank,
        user_id: str | int,
        rng_seed: int | None = None,
        grader: FreeTextGrader = grading.accepts,
    ) -> "QuizSession":
        """A fresh session; without a seed, the option order is drawn at random."""
        seed = random.SystemRandom().randrange(2**32) if rng_seed is None else rng_seed
        return cls(bank=bank, user_id=str(user_id), rng_seed=seed, grader=grader)

    @property
    def finished(self) -> bool:
        return len(self.answers) == len(self.bank.questions)

    @property
    def score(self) -> int:
        return sum(answer.correct for answer in self.answers)

    def current(self) -> QuestionView:
        if self.finished:
            raise QuizError(self._finished_message())
        return self._view(self.bank.questions[len(self.answers)])

    def answer(self, question_id: str, reply: str | int) -> AnswerResult:
        """Grade a reply (a letter A-D or a 0-based index, or free text) to the current question."""
        question = self._check_answerable(question_id)
        if isinstance(question, ChoiceQuestion):
            your_answer = self._chosen_option(question, reply)
            correct = your_answer == question.correct_option
        else:
            your_answer = _free_text(reply)
            correct = self.grader(question, your_answer)
        recorded = RecordedAnswer(question_id=question.id, reply=your_answer, correct=correct)
        self.answers.append(recorded)
        return self._result(question, your_answer, correct)

    def summary(self) -> Summary:
        """The score so far, the questions missed and what to ask the tutor next."""
        missed = tuple(self._missed(answer) for answer in self.answers if not answer.correct)
        return Summary(
            bank=self.bank.name,
            title=self.bank.title,
            score=self.score,
            answered=len(self.answers),
            total=len(self.bank.questions),
            missed=missed,
            ask_next=missed[0].ask_tutor if missed else self.bank.follow_up,
        )

    def to_dict(self) -> dict[str, Any]:
        stored = _StoredSession(
            bank=self.bank.name,
            user_id=self.user_id,
            rng_seed=self.rng_seed,
            answers=self.answers,
        )
        return stored.model_dump()

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        bank: Bank | None = None,
        grader: FreeTextGrader = grading.accepts,
    ) -> "QuizSession":
        """Resume a stored session; the bank is loaded by name unless given."""
        try:
            stored = _StoredSession.model_validate(data)
        except ValidationError as error:
            raise QuizError(f"Stored quiz session is malformed: {error}") from error
        try:
            bank = bank or load_bank(stored.bank)
        except BankError as error:
            raise QuizError(f"Stored quiz session cannot be resumed: {error}") from error
        session = cls(bank, stored.user_id, stored.rng_seed, stored.answers, grader)
        session._check_matches_bank(stored.bank)
        return session

    def _option_order(self, question: ChoiceQuestion) -> tuple[int, ...]:
        """Bank indexes of the options in the order this session shows them."""
        # Seeded by session and question id: stable across restarts and bank reorders.
        order = list(range(len(question.options)))
        random.Random(f"{self.rng_seed}:{question.id}").shuffle(order)
        return tuple(order)

    def _view(self, question: Question) -> QuestionView:
        options: tuple[str, ...] = ()
        if isinstance(question, ChoiceQuestion):
            options = tuple(question.options[i] for i in self._option_order(question))
        return QuestionView(
            question_id=question.id,
            number=self.bank.number_of(question.id),
            total=len(self.bank.questions),
            prompt=question.question,
            options=options,
        )

    def _check_answerable(self, question_id: str) -> Question:
        if self.finished:
            raise QuizError(self._finished_message())
        try:
            question = self.bank.question(question_id)
        except KeyError:
            raise QuizError(f"This quiz has no question {question_id!r}.") from None
        number = self.bank.number_of(question_id)
        if any(answer.question_id == question_id for answer in self.answers):
            raise QuizError(f"Question {number} is already answered; answers cannot be changed.")
        current = self.current()
        if question_id != current.question_id:
            raise QuizError(
                f"Question {number} is not the current question: answer question "
                f"{current.number} first."
            )
        return question

    def _chosen_option(self, question: ChoiceQuestion, reply: str | int) -> str:
        shown = [question.options[i] for i in self._option_order(question)]
        return shown[_option_index(reply, len(shown))]

    def _result(self, question: Question, your_answer: str, correct: bool) -> AnswerResult:
        if isinstance(question, ChoiceQuestion):
            correct_answer = question.correct_option
            shown_position = self._option_order(question).index(question.correct)
            correct_letter = string.ascii_uppercase[shown_position]
        else:
            correct_answer, correct_letter = question.reference_answer, None
        return AnswerResult(
            question_id=question.id,
            number=self.bank.number_of(question.id),
            correct=correct,
            your_answer=your_answer,
            correct_answer=correct_answer,
            correct_letter=correct_letter,
            explanation=question.explanation,
            sources=question.sources,
            finished=self.finished,
        )

    def _missed(self, answer: RecordedAnswer) -> MissedQuestion:
        question = self.bank.question(answer.question_id)
        if isinstance(question, ChoiceQuestion):
            correct_answer = question.correct_option
        else:
            correct_answer = question.reference_answer
        return MissedQuestion(
            number=self.bank.number_of(question.id),
            question_id=question.id,
            prompt=question.question,
            your_answer=answer.reply,
            correct_answer=correct_answer,
            explanation=question.explanation,
            sources=question.sources,
            ask_tutor=question.ask_tutor,
        )

    def _finished_message(self) -> str:
        total = len(self.bank.questions)
        return f"This quiz is finished ({self.score}/{total}); start a new one to try again."

    def _check_matches_bank(self, stored_bank_name: str) -> None:
        """A stored session's answers must follow the bank's questions, in order."""
        expected = [question.id for question in self.bank.questions[: len(self.answers)]]
        stored = [answer.question_id for answer in self.answers]
        if stored_bank_name != self.bank.name or stored != expected:
            raise QuizError(
                f"Stored quiz session does not match the {self.bank.name!r} bank; start a new quiz."
            )


def _option_index(reply: str | int, count: int) -> int:
    """A 0-based option index from a letter ("b", "B"), a typed option number counted from
    1 as shown to people ("2"), or an index from code (1)."""
    letters = string.ascii_uppercase[:count]
    valid = f"answer with a letter {letters[0]}-{letters[-1]} or a number 1-{count}"
    if isinstance(reply, bool) or not isinstance(reply, int | str):
        raise QuizError(f"{reply!r} is not an option: {valid}.")
    if isinstance(reply, int):
        if not 0 <= reply < count:
            raise QuizError(f"Option {reply} is out of range: {valid}.")
        return reply
    typed = reply.strip().upper().rstrip(").")
    if typed.isdigit() and 1 <= int(typed) <= count:
        return int(typed) - 1
    if len(typed) != 1 or typed not in letters:
        raise QuizError(f"{reply.strip()!r} is not an option: {valid}.")
    return letters.index(typed)


def _free_text(reply: str | int) -> str:
    if not isinstance(reply, str) or not reply.strip():
        raise QuizError("This question needs an answer in your own words.")
    return reply.strip()
