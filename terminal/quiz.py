"""The quiz in a terminal: options as A-D, free text where the question asks for it."""

import json
import sys

from quiz.bank import load_bank
from quiz.engine import AnswerResult, QuizError, Summary
from tutor.quizzes import QuizDesk
from tutor.storage import Store

CONSOLE_USER = "console"


def export_bank(name: str) -> str:
    return json.dumps(load_bank(name).model_dump(), indent=2, ensure_ascii=False)


def run_quiz(settings, bank: str, stdin=sys.stdin, stdout=sys.stdout) -> int:
    store = Store.from_settings(settings)
    desk = QuizDesk(store)
    try:
        view = desk.start(CONSOLE_USER, "", bank)
        while view is not None:
            print(f"\n{view.text()}", file=stdout)
            print("> ", end="", file=stdout, flush=True)
            reply = stdin.readline()
            if not reply:
                print("\nYour progress is saved: run `quantutor quiz` to go on.", file=stdout)
                return 0
            try:
                turn = desk.answer(CONSOLE_USER, "", bank, view.question_id, reply.strip())
            except QuizError as error:
                print(error, file=stdout)
                continue
            print(render_result(turn.result), file=stdout)
            view = turn.next_question
        print(render_summary(turn.summary), file=stdout)
    except QuizError as error:
        print(f"quantutor: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


def render_result(result: AnswerResult) -> str:
    if result.correct:
        verdict = "✓ Right."
    elif result.correct_letter:
        verdict = f"✗ Not quite: the answer is {result.correct_letter}) {result.correct_answer}"
    else:
        verdict = f"✗ Not quite. A good answer: {result.correct_answer}"
    if result.correct and not result.correct_letter:
        verdict += f" A reference answer: {result.correct_answer}"
    return f"{verdict}\n{result.explanation}\nSource: {', '.join(result.sources)}"


def render_summary(summary: Summary) -> str:
    lines = [f"\nYou scored {summary.score}/{summary.total} on {summary.title}."]
    for missed in summary.missed:
        lines.append(f"- Q{missed.number} {missed.prompt}\n  {missed.explanation}")
    lines.append(f"Ask the tutor next: “{summary.ask_next}”")
    return "\n".join(lines)
