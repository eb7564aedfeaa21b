"""Quiz sessions kept in the store: the pure engine's state is saved after every answer."""

from dataclasses import dataclass

from quiz.bank import BankError, list_banks, load_bank
from quiz.engine import AnswerResult, QuestionView, QuizError, QuizSession, Summary
from tutor.storage import QuizScore, Store


@dataclass(frozen=True)
class QuizTurn:
    """What a learner sees after answering: the result, then the next question or the summary."""

    result: AnswerResult
    next_question: QuestionView | None
    summary: Summary | None


class QuizDesk:
    def __init__(self, store: Store):
        self.store = store

    @staticmethod
    def banks() -> list[str]:
        return list_banks()

    def start(self, user_id: str, guild_id: str, bank: str = "lesson") -> QuestionView:
        """The current question of an unfinished session, or the first of a new one."""
        session = self._load(user_id, guild_id, bank)
        if session is None or session.finished:
            session = QuizSession.start(self._bank(bank), user_id)
            self.store.save_quiz(user_id, guild_id, bank, session.to_dict(), result=None)
        return session.current()

    def current(self, user_id: str, guild_id: str, bank: str = "lesson") -> QuestionView | None:
        session = self._load(user_id, guild_id, bank)
        return None if session is None or session.finished else session.current()

    def answer(
        self, user_id: str, guild_id: str, bank: str, question_id: str, reply: str | int
    ) -> QuizTurn:
        """Grade one answer and save it with the session, atomically; a refusal changes nothing."""
        session = self._load(user_id, guild_id, bank)
        if session is None:
            raise QuizError("You have no quiz running: start one first.")
        result = session.answer(question_id, reply)
        finished = (session.score, len(session.bank.questions)) if session.finished else None
        self.store.save_quiz(user_id, guild_id, bank, session.to_dict(), result=finished)
        if session.finished:
            return QuizTurn(result, None, session.summary())
        return QuizTurn(result, session.current(), None)

    def score(self, user_id: str, guild_id: str, bank: str = "lesson") -> QuizScore | None:
        return self.store.quiz_score(user_id, guild_id, bank)

    def leaderboard(self, guild_id: str, bank: str = "lesson") -> list[QuizScore]:
        return self.store.leaderboard(guild_id, bank)

    def _load(self, user_id: str, guild_id: str, bank: str) -> QuizSession | None:
        state = self.store.load_quiz(user_id, guild_id, bank)
        return None if state is None else QuizSession.from_dict(state, self._bank(bank))

    @staticmethod
    def _bank(name: str):
        try:
            return load_bank(name)
        except BankError as error:
            raise QuizError(f"{error} Banks: {', '.join(list_banks())}.") from None
