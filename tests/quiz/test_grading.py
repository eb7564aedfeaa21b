import json
from pathlib import Path

import pytest

from quiz import grading
from quiz.bank import FreeTextQuestion, load_bank

ROOT = Path(__file__).parents[2]
# Replies labelled by hand, none of them copied from the bank's examples: ours, and the
# benchmark's (written separately, so it also checks that the thresholds generalize).
LABELLED_FILES = [
    ROOT / "tests" / "quiz" / "data" / "q8_labelled.jsonl",
    ROOT / "bench" / "data" / "q8_replies.jsonl",
]
MIN_ACCURACY = 0.9


@pytest.fixture(scope="module")
def q8() -> FreeTextQuestion:
    question = load_bank("lesson").question("q8-verify-answer")
    assert isinstance(question, FreeTextQuestion)
    return question


def read_labelled(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.mark.parametrize("path", LABELLED_FILES, ids=lambda path: path.name)
def test_q8_grader_accuracy_on_labelled_replies(q8, path):
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    rows = read_labelled(path)
    assert len(rows) >= 20
    grades = grading.grade_replies(q8, [row["reply"] for row in rows])
    wrong = [
        row for row, grade in zip(rows, grades, strict=True) if grade.accepted != row["accept"]
    ]
    accuracy = 1 - len(wrong) / len(rows)
    assert accuracy >= MIN_ACCURACY, f"accuracy {accuracy:.2f}; misgraded: {wrong}"


def test_our_labelled_replies_are_varied_and_not_bank_examples(q8):
    rows = read_labelled(LABELLED_FILES[0])
    assert len(rows) >= 24
    assert {True, False} == {row["accept"] for row in rows}
    examples = {text.lower() for text in (q8.reference_answer, *q8.accept, *q8.reject)}
    assert not [row["reply"] for row in rows if row["reply"].lower() in examples]


def test_the_reference_answer_is_accepted(q8):
    assert grading.grade(q8, q8.reference_answer).accepted


@pytest.mark.parametrize(
    "reply",
    [
        "I would look up the original GPTQ paper and compare the numbers",
        "Get an expert to check it",
        "measure perplexity of the int4 model against fp16 on my own prompts",
    ],
)
def test_verification_replies_are_accepted_whatever_the_wording(q8, reply):
    assert grading.grade(q8, reply).accepted


@pytest.mark.parametrize(
    "reply",
    ["ask the AI again if it sounds confident", "just trust the chatbot", "banana", "   "],
)
def test_non_verification_replies_are_rejected(q8, reply):
    assert not grading.grade(q8, reply).accepted


def test_a_grade_reports_its_similarities():
    [grade] = grading.grade_free_texts(
        ["check the paper"], accepted=["read the original paper"], rejected=["ask the AI again"]
    )
    assert grade.accept_similarity > grade.reject_similarity
    assert grade.margin == pytest.approx(grade.accept_similarity - grade.reject_similarity)
    assert grade.accepted
