"""Curated tables as data files, checked against a schema when they are loaded.

A table is a YAML file (a mapping with one key, the table's name, holding a list of
entries) or a JSON Lines file (one entry a line). Each module that uses a table defines
its entry's schema, a subclass of Entry, next to where it reads it (as quiz/bank.py does
for the question banks). Every source document an entry names (a `SourceDoc` field) must
be a file in knowledge/sources: renaming a source then fails the load, naming the file
and the entry, instead of failing later where the document is looked up.
"""

import json
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
)

from knowledge.documents import PACKAGED_SOURCES
from quiz.bank import SourceName
from tutor.errors import CuratedError

DATA_DIR = Path(__file__).parent / "data"  # the core's tables; the lab's are in lab/data
LABEL_CHARS = 50  # how much of an entry's key an error message quotes

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _source_exists(name: str, info: ValidationInfo) -> str:
    folder = (info.context or {}).get("sources_dir", PACKAGED_SOURCES)
    if not (Path(folder) / name).is_file():
        raise ValueError(f"no source document {name!r} in {_folder_name(Path(folder))}")
    return name


def _folder_name(folder: Path) -> str:
    return "knowledge/sources" if folder == PACKAGED_SOURCES else str(folder)


# A knowledge-base document by its doc_id (its file name), which must exist.
SourceDoc = Annotated[SourceName, AfterValidator(_source_exists)]


def _valid_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"not a valid regular expression: {error}") from error
    return pattern


Regex = Annotated[Text, AfterValidator(_valid_regex)]


class Entry(BaseModel):
    """One entry of a table. `key` names the field that identifies an entry: it must be
    unique in its table, and error messages quote it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: ClassVar[str]  # the YAML file's one top-level key
    key: ClassVar[str]
    min_entries: ClassVar[int] = 1


E = TypeVar("E", bound=Entry)


def load_table(
    path: Path, entry_type: type[E], sources_dir: Path = PACKAGED_SOURCES
) -> tuple[E, ...]:
    """Every entry of a table file, validated; CuratedError lists each problem found."""
    raws = _read_jsonl(path) if path.suffix == ".jsonl" else _read_yaml(path, entry_type.table)
    entries: list[E] = []
    problems: list[str] = []
    for where, raw in raws:
        try:
            entries.append(entry_type.model_validate(raw, context={"sources_dir": sources_dir}))
        except ValidationError as error:
            named = _name_entry(where, raw, entry_type.key)
            problems += [f"{path.name}: {named}, {_describe(d)}" for d in error.errors()]
    if problems:
        raise CuratedError("\n".join(problems))
    problems = _table_problems(path.name, raws, entries, entry_type)
    if problems:
        raise CuratedError("\n".join(problems))
    return tuple(entries)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CuratedError(f"{path.name}: cannot read the table: {error}") from error


def _read_yaml(path: Path, table: str) -> list[tuple[str, Any]]:
    try:
        raw = yaml.safe_load(_read(path))
    except yaml.YAMLError as error:
        raise CuratedError(f"{path.name}: not valid YAML: {error}") from error
    if not isinstance(raw, dict) or set(raw) != {table} or not isinstance(raw[table], list):
        raise CuratedError(f"{path.name}: expected a mapping with one key, {table!r}: a list")
    return [(f"entry {number}", entry) for number, entry in enumerate(raw[table], start=1)]


def _read_jsonl(path: Path) -> list[tuple[str, Any]]:
    raws = []
    for number, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raws.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as error:
            raise CuratedError(f"{path.name}: line {number}: not valid JSON: {error}") from error
    return raws


def _name_entry(where: str, raw: Any, key: str) -> str:
    value = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(value, str) or not value.strip():
        return f"{where} (no {key})"
    value = value.strip()
    if len(value) > LABEL_CHARS:
        value = value[: LABEL_CHARS - 1].rstrip() + "…"
    return f"{where} ({key} {value!r})"


def _describe(detail: dict) -> str:
    field = ".".join(str(part) for part in detail["loc"]) or "(the entry itself)"
    return f"field {field!r}: {detail['msg'].removeprefix('Value error, ')}"


def _table_problems(
    file_name: str, raws: list[tuple[str, Any]], entries: list[Entry], entry_type: type[Entry]
) -> list[str]:
    """What is wrong with the table as a whole: too few entries, or a key repeated."""
    if len(entries) < entry_type.min_entries:
        return [f"{file_name}: needs at least {entry_type.min_entries} entries, has {len(entries)}"]
    problems = []
    first_seen: dict[str, str] = {}
    for (where, _), entry in zip(raws, entries, strict=True):
        value = getattr(entry, entry_type.key)
        if value in first_seen:
            problems.append(
                f"{file_name}: {where}, field {entry_type.key!r}: duplicate {value!r} "
                f"(also {first_seen[value]})"
            )
        else:
            first_seen[value] = where
    return problems
