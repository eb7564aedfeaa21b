"""The labelled answer benchmark, shared by bench/answer_eval.py and the lab.

Questions (tutor/lab/data/questions.jsonl, shipped with the package: question, key_fact
regex, source document) go through `quantutor ask --json -` exactly as a user's would.
"""

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import ClassVar

from tutor.curated import Entry, Regex, SourceDoc, Text, load_table

QUESTIONS_FILE = Path(__file__).parent / "data" / "questions.jsonl"


class BenchQuestion(Entry):
    """A labelled question: the answer should state `key_fact` (a case-insensitive regex)
    and cite `source`."""

    table: ClassVar[str] = "questions"  # in a YAML table; the packaged one is JSON Lines
    key: ClassVar[str] = "question"

    question: Text
    key_fact: Regex
    source: SourceDoc


@cache
def _packaged_questions() -> tuple[BenchQuestion, ...]:
    return load_table(QUESTIONS_FILE, BenchQuestion)


def load_questions(limit: int | None = None) -> list[dict]:
    """The labelled questions (the first `limit`), as dicts: question, key_fact, source.

    They ship with the package, so a missing or invalid file raises CuratedError.
    """
    questions = _packaged_questions()
    return [q.model_dump() for q in (questions[:limit] if limit else questions)]


def answer_prompts(settings, questions: list[str]) -> list[list[dict]]:
    """The chat messages the tutor drafts each question's answer from (retrieved sources
    and the question), built from the index in the settings' data directory."""
    from knowledge.index import KnowledgeIndex
    from tutor import rag

    index = KnowledgeIndex.from_settings(settings)
    index.sync(progress=False)
    prompt = rag.SYSTEM_PROMPTS["answer"]
    hits = [index.search(q, settings.top_k, settings.relevance_floor) for q in questions]
    return [rag.build_messages(q, h, prompt) for q, h in zip(questions, hits)]


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
    )
    if done.returncode not in (0, 2):  # 2: some questions refused, each recorded as such
        raise RuntimeError(f"`ask --json -` failed ({done.returncode}):\n{done.stderr[-3000:]}")
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
