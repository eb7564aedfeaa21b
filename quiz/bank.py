"""Question banks: YAML files in quiz/banks/, validated against a schema when loaded."""

from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
)

BANKS_DIR = Path(__file__).parent / "banks"
MAX_OPTIONS = 4  # answered by letter A-D, one button each on Discord

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
QuestionId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
# A knowledge-base document: a kebab-case file name in knowledge/sources/.
SourceName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*\.md$")]


class BankError(ValueError):
    """A bank that is missing or does not match the schema; the message names where."""


class _Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: QuestionId
    question: Text
    explanation: Text
    sources: tuple[SourceName, ...] = Field(min_length=1)
    ask_tutor: Text  # what to ask the tutor next when this question was missed


class ChoiceQuestion(_Question):
    kind: Literal["choice"] = "choice"
    options: tuple[Text, ...] = Field(min_length=2, max_length=MAX_OPTIONS)
    correct: int  # index into options as written in the bank, before any shuffle

    @field_validator("options")
    @classmethod
    def _options_distinct(cls, options: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(options)) != len(options):
            raise ValueError("options must be distinct")
        return options

    @field_validator("correct")
    @classmethod
    def _correct_in_range(cls, correct: int, info: ValidationInfo) -> int:
        count = len(info.data.get("options", ()))
        if count and not 0 <= correct < count:
            raise ValueError(
                f"must index one of the {count} options (0-{count - 1}), got {correct}"
            )
        return correct

    @property
    def correct_option(self) -> str:
        return self.options[self.correct]


class FreeTextQuestion(_Question):
    kind: Literal["free_text"]
    reference_answer: Text
    # Example replies the grader compares a learner's reply with, by meaning.
    accept: tuple[Text, ...] = Field(min_length=3)
    reject: tuple[Text, ...] = Field(min_length=3)


def _question_kind(raw: Any) -> str:
    if isinstance(raw, dict):
        return raw.get("kind", "choice")
    return getattr(raw, "kind", "choice")


Question = Annotated[
    Annotated[ChoiceQuestion, Tag("choice")] | Annotated[FreeTextQuestion, Tag("free_text")],
    Discriminator(_question_kind),
]
_KIND_TAGS = {"choice", "free_text"}


class Bank(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # the file's stem, set by the loader
    title: Text
    description: Text
    follow_up: Text  # what to ask the tutor next after a perfect score
    questions: tuple[Question, ...] = Field(min_length=1)

    @field_validator("questions")
    @classmethod
    def _ids_unique(cls, questions: tuple[Question, ...]) -> tuple[Question, ...]:
        first_seen: dict[str, int] = {}
        for number, question in enumerate(questions, start=1):
            if question.id in first_seen:
                raise ValueError(
                    f"duplicate id {question.id!r} (questions {first_seen[question.id]} "
                    f"and {number})"
                )
            first_seen[question.id] = number
        return questions

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def number_of(self, question_id: str) -> int:
        """The 1-based position of a question in the bank."""
        return self.questions.index(self.question(question_id)) + 1


def list_banks() -> list[str]:
    """Names of the packaged banks, for load_bank."""
    return sorted(path.stem for path in BANKS_DIR.glob("*.yaml"))


def load_bank(name_or_path: str | Path) -> Bank:
    """A packaged bank by name ("lesson"), or any bank file by path."""
    if isinstance(name_or_path, Path):
        return _load_file(name_or_path)
    available = list_banks()
    if name_or_path not in available:
        raise BankError(f"no quiz bank named {name_or_path!r}; available: {', '.join(available)}")
    return _load_packaged(name_or_path)


@cache
def _load_packaged(name: str) -> Bank:
    return _load_file(BANKS_DIR / f"{name}.yaml")


def _load_file(path: Path) -> Bank:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise BankError(f"{path.name}: cannot read the bank: {error}") from error
    except yaml.YAMLError as error:
        raise BankError(f"{path.name}: not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise BankError(f"{path.name}: expected a mapping with title, description, questions")
    try:
        return Bank.model_validate({**raw, "name": path.stem})
    except ValidationError as error:
        raise BankError(_describe(path.name, raw, error)) from error


def _describe(file_name: str, raw: dict, error: ValidationError) -> str:
    """One line per schema error, naming the file, the question and the field."""
    return "\n".join(_describe_one(file_name, raw, detail) for detail in error.errors())


def _describe_one(file_name: str, raw: dict, detail: dict) -> str:
    location = [part for part in detail["loc"] if part not in _KIND_TAGS]
    message = detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "union_tag_invalid":
        location.append("kind")
        kinds = ", ".join(sorted(_KIND_TAGS))
        message = f"must be one of {kinds}, got {_question_kind(detail['input'])!r}"
    if len(location) < 2 or location[0] != "questions":
        field = ".".join(str(part) for part in location) or "(top level)"
        return f"{file_name}: field {field!r}: {message}"
    index, field_path = location[1], location[2:]
    field = ".".join(str(part) for part in field_path) or "(the question itself)"
    return f"{file_name}: {_name_question(raw, index)}, field {field!r}: {message}"


def _name_question(raw: dict, index: int) -> str:
    entry = raw["questions"][index]
    question_id = entry.get("id") if isinstance(entry, dict) else None
    named = f"id {question_id!r}" if question_id else "no id"
    return f"question {index + 1} ({named})"
