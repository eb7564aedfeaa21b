"""An answer survives being stored: to_dict and from_dict round-trip every field."""

import json

from tutor.answer import Answer, Sentence, SourceRef


def full_answer() -> Answer:
    return Answer(
        question="Is int8 lossless?",
        sentences=[
            Sentence("int8 is typically lossless.", "supported", 0.91, [1], origin="source"),
            Sentence("int8 is always perfect.", "overbroad", 0.4, [], "the sources say typically"),
        ],
        sources=[SourceRef(1, "The premise", "the lesson", "int8 typically lossless", "u", "a.md")],
        model="SmolLM2-135M-Instruct",
        quantization="nf4",
        timings_ms={"retrieve": 12.5, "total": 2301.2},
        review_id=7,
        question_id=42,
        request_id="abc123",
        model_text="int8 is always perfect.",
    )


def test_an_answer_round_trips_through_its_stored_form():
    answer = full_answer()
    stored = json.loads(json.dumps(answer.to_dict()))  # as the store keeps it
    assert Answer.from_dict(stored) == answer
    assert Answer.from_dict(stored).render() == stored["answer"]


def test_a_refusal_keeps_its_message():
    answer = Answer("What is football?", kind="off_topic", message="I stay on quantization.")
    again = Answer.from_dict(json.loads(json.dumps(answer.to_dict())))
    assert again == answer and again.render() == "I stay on quantization."


def test_an_older_stored_answer_without_newer_keys_still_loads():
    old = {"question": "q", "sentences": [], "sources": [], "answer": "", "flagged": False}
    assert Answer.from_dict(old) == Answer("q")
