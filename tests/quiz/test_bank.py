from pathlib import Path

import pytest
import yaml

from knowledge.documents import load_topics
from quiz.bank import BankError, ChoiceQuestion, FreeTextQuestion, list_banks, load_bank

SOURCES_DIR = Path(__file__).parents[2] / "knowledge" / "sources"

# The lesson's end-of-lesson check: prompt, options as the lesson gives them, the key.
LESSON_TITLE = "AI Model Quantization: 8-bit, 4-bit, and Quality Cliffs"
LESSON = [
    (
        f'What is the main idea of "{LESSON_TITLE}"?',
        [
            "How quantization shrinks AI models for deployment — and where quality breaks.",
            "Use AI as the final authority for the whole decision",
            "Avoid checking the answer once it sounds polished",
            "Focus only on speed instead of judgment",
        ],
        "How quantization shrinks AI models for deployment — and where quality breaks.",
    ),
    (
        f'Which concept is most central to "{LESSON_TITLE}"?',
        ["int8", "quantization", "int4", "perplexity"],
        "quantization",
    ),
    (
        "Which use of AI fits this topic best?",
        [
            "Deliver flagship quality at int4 on hard reasoning tasks",
            "Let the AI decide what matters without your review",
            "int8: minimal quality loss across most workloads",
            "Use the answer before checking whether it fits the situation",
        ],
        "int8: minimal quality loss across most workloads",
    ),
    (
        "Which limitation should you watch for in this topic?",
        [
            "int8: minimal quality loss across most workloads",
            "Explain the topic in plain language",
            "Organize a draft for human review",
            "Deliver flagship quality at int4 on hard reasoning tasks",
        ],
        "Deliver flagship quality at int4 on hard reasoning tasks",
    ),
    (
        'What should a careful learner remember about "Pattern: quantize then re-eval per '
        'workload"?',
        [
            "Use AI to draft or organize ideas about quantization, then verify before acting.",
            "Skip the context so the tool can guess faster",
            "Treat the output as private even after sharing it online",
            "Use the answer without checking the source",
        ],
        "Use AI to draft or organize ideas about quantization, then verify before acting.",
    ),
    (
        "You want to use AI after this lesson. What is the safest next step?",
        [
            "Act immediately because the AI answer is written clearly",
            "Use AI for drafting and comparison, but verify before publishing or relying on it.",
            "Hide uncertainty so the final answer looks cleaner",
            "Use private or sensitive details before checking permission",
        ],
        "Use AI for drafting and comparison, but verify before publishing or relying on it.",
    ),
    (
        "How should AI output about quantization be treated?",
        [
            "As proof that no other source is needed",
            "As a replacement for context, consent, or expert review",
            "As a draft or helper output that still needs human judgment and verification",
            "As something that becomes correct when it sounds confident",
        ],
        "As a draft or helper output that still needs human judgment and verification",
    ),
    ("Name one way to verify an AI answer about quantization.", None, None),
    (
        f'Which action would help you apply "{LESSON_TITLE}" responsibly?',
        [
            "Recover lost capability without re-introducing precision",
            "Use the tool to avoid thinking through the tradeoff",
            "Keep going even if the output conflicts with a trusted source",
            "int4: usable for chat, classification, simple generation",
        ],
        "int4: usable for chat, classification, simple generation",
    ),
    (
        "Which choice is a bad use of AI for this lesson?",
        None,  # the lesson lists one option; the bank adds three good uses
        "Recover lost capability without re-introducing precision",
    ),
]

VALID_QUESTION = {
    "id": "two",
    "question": "How many bytes does an fp16 weight take?",
    "options": ["1", "2", "4", "8"],
    "correct": 1,
    "explanation": "16 bits are 2 bytes.",
    "sources": ["bytes-per-weight.md"],
    "ask_tutor": "How many bytes per weight does int8 use?",
}
VALID_FREE_TEXT = {
    "id": "three",
    "kind": "free_text",
    "question": "Name one way to verify an AI answer.",
    "reference_answer": "Check a trusted source.",
    "accept": ["Read the paper.", "Ask an expert.", "Run an evaluation."],
    "reject": ["Ask the AI again.", "Trust it.", "I don't know."],
    "explanation": "Verification uses evidence from outside the AI.",
    "sources": ["lesson-verify-ai-answer.md"],
    "ask_tutor": "How do I verify a figure?",
}


def bank_data(*questions: dict) -> dict:
    first = {**VALID_QUESTION, "id": "one"}
    return {
        "title": "A test bank",
        "description": "For schema tests.",
        "follow_up": "What next?",
        "questions": [first, *questions],
    }


def write_bank(tmp_path: Path, data: object, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_packaged_banks_are_listed_and_load():
    assert list_banks() == ["deep_dive", "lesson"]
    for name in list_banks():
        assert load_bank(name).name == name


def test_lesson_has_the_ten_questions_in_order_with_the_right_keys():
    questions = load_bank("lesson").questions
    assert len(questions) == len(LESSON)
    for number, (question, (prompt, options, key)) in enumerate(
        zip(questions, LESSON, strict=True), start=1
    ):
        assert question.question == prompt, f"question {number}"
        if options is not None:
            assert list(question.options) == options, f"question {number}"
        if key is not None:
            assert question.correct_option == key, f"question {number}"


def test_lesson_q8_is_free_text_with_a_reference_answer():
    q8 = load_bank("lesson").questions[7]
    assert isinstance(q8, FreeTextQuestion)
    assert "trusted source" in q8.reference_answer
    assert any("ask the ai again" in example.lower() for example in q8.reject)


def test_lesson_q10_adds_three_good_uses_to_the_lessons_option():
    q10 = load_bank("lesson").questions[9]
    assert isinstance(q10, ChoiceQuestion)
    assert q10.options[0] == "Recover lost capability without re-introducing precision"
    assert len(q10.options) == 4
    assert q10.correct == 0


def test_deep_dive_covers_the_knowledge_base_topics():
    bank = load_bank("deep_dive")
    assert len(bank.questions) >= 60
    topics = load_topics()
    topic_of = {doc: t["id"] for t in topics for doc in t["documents"]}
    covered = {topic_of[s] for q in bank.questions for s in q.sources}
    assert len(covered) >= 15, f"the deep dive covers only {sorted(covered)}"
    assert all(isinstance(question, ChoiceQuestion) for question in bank.questions)


@pytest.mark.parametrize("name", ["lesson", "deep_dive"])
def test_every_cited_source_exists_in_the_knowledge_base(name):
    cited = {source for question in load_bank(name).questions for source in question.sources}
    missing = sorted(source for source in cited if not (SOURCES_DIR / source).is_file())
    assert not missing, f"{name} cites documents that are not in knowledge/sources: {missing}"


def test_a_valid_test_bank_loads(tmp_path):
    bank = load_bank(write_bank(tmp_path, bank_data(VALID_QUESTION, VALID_FREE_TEXT), "ok.yaml"))
    assert bank.name == "ok"
    assert [question.id for question in bank.questions] == ["one", "two", "three"]


@pytest.mark.parametrize(
    ("broken", "field", "detail"),
    [
        ({**VALID_QUESTION, "correct": 4}, "correct", "must index one of the 4 options"),
        ({**VALID_QUESTION, "correct": -1}, "correct", "must index one of the 4 options"),
        ({**VALID_QUESTION, "options": ["a", "b", "c", "d", "e"]}, "options", "at most 4"),
        ({**VALID_QUESTION, "options": ["same", "same"]}, "options", "distinct"),
        ({**VALID_QUESTION, "explanation": "  "}, "explanation", "at least 1 character"),
        ({**VALID_QUESTION, "sources": []}, "sources", "at least 1 item"),
        ({**VALID_QUESTION, "sources": ["Bytes Per Weight"]}, "sources.0", "pattern"),
        ({**VALID_QUESTION, "answr": 1}, "answr", "Extra inputs are not permitted"),
        ({k: v for k, v in VALID_QUESTION.items() if k != "ask_tutor"}, "ask_tutor", "required"),
        ({**VALID_FREE_TEXT, "id": "two", "reject": ["only one"]}, "reject", "at least 3"),
        ({**VALID_QUESTION, "kind": "essay"}, "kind", "must be one of choice, free_text"),
    ],
)
def test_schema_errors_name_the_file_question_and_field(tmp_path, broken, field, detail):
    path = write_bank(tmp_path, bank_data(broken))
    with pytest.raises(BankError) as error:
        load_bank(path)
    message = str(error.value)
    assert message.startswith("bad.yaml: question 2 (id 'two'), ")
    assert f"field {field!r}" in message
    assert detail in message


def test_a_question_without_an_id_is_named_by_its_number(tmp_path):
    nameless = {k: v for k, v in VALID_QUESTION.items() if k != "id"}
    with pytest.raises(BankError, match=r"bad.yaml: question 2 \(no id\), field 'id': Field"):
        load_bank(write_bank(tmp_path, bank_data(nameless)))


def test_duplicate_ids_are_rejected(tmp_path):
    duplicate = {**VALID_QUESTION, "id": "one"}
    with pytest.raises(
        BankError, match=r"field 'questions': duplicate id 'one' \(questions 1 and 2"
    ):
        load_bank(write_bank(tmp_path, bank_data(duplicate)))


def test_bank_level_errors_name_the_field(tmp_path):
    data = bank_data()
    del data["title"]
    with pytest.raises(BankError, match=r"bad.yaml: field 'title': Field required"):
        load_bank(write_bank(tmp_path, data))


def test_invalid_yaml_and_unknown_names_are_bank_errors(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("questions: [unclosed", encoding="utf-8")
    with pytest.raises(BankError, match="broken.yaml: not valid YAML"):
        load_bank(path)
    with pytest.raises(BankError, match="broken.yaml: expected a mapping"):
        load_bank(write_bank(tmp_path, ["a list"], "broken.yaml"))
    with pytest.raises(BankError, match="no quiz bank named 'nope'; available: deep_dive, lesson"):
        load_bank("nope")
