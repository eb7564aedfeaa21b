"""The labelled answer benchmark, shared by bench/answer_eval.py and the lab.

Questions (bench/data/questions.jsonl: question, key_fact regex, source document) go
through `quantutor ask --json -` exactly as a user's would.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

QUESTIONS_FILE = Path(__file__).resolve().parents[2] / "bench" / "data" / "questions.jsonl"


def load_questions(limit: int | None = None) -> list[dict]:
    """The labelled questions, or an empty list where the benchmark data is not installed."""
    if not QUESTIONS_FILE.is_file():
        return []
    lines = [line for line in QUESTIONS_FILE.read_text().splitlines() if line.strip()]
    questions = [json.loads(line) for line in lines]
    return questions[:limit] if limit else questions


def ask_all(questions: list[dict], **settings: str) -> list[dict]:
    """One `ask --json` record per question, with QUANTUTOR_* settings overridden."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.update({f"QUANTUTOR_{name.upper()}": value for name, value in settings.items()})
    done = subprocess.run(
        [sys.executable, "-m", "cli", "ask", "--json", "-"],
        input="".join(q["question"] + "\n" for q in questions),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def key_fact_found(question: dict, record: dict) -> bool:
    """The key fact is in what the learner reads as the answer (sources' sentences + draft)."""
    text = " ".join(s["text"] for s in record.get("sentences", []))
    return bool(re.search(question["key_fact"], text, re.IGNORECASE))


def key_fact_drafted(question: dict, record: dict) -> bool:
    """The key fact is in the model's own draft: what the answer benchmark asks of the model
    alone, since the sources' sentences that open every answer do not depend on it."""
    return bool(re.search(question["key_fact"], record.get("model_text", ""), re.IGNORECASE))


def cites_expected(question: dict, record: dict) -> bool:
    by_number = {s["n"]: s["doc_id"] for s in record.get("sources", [])}
    cited = {by_number.get(n) for s in record.get("sentences", []) for n in s["citations"]}
    return question["source"] in cited
