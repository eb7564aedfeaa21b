"""The curated tables (tutor/data, tutor/lab/data): each validates against its schema,
names only source documents that exist, ships in the package, and fails clearly when broken."""

import fnmatch
import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml

from knowledge.documents import PACKAGED_SOURCES, chunk_document, load_documents, parse_document
from tutor.answer import SourceRef
from tutor.curated import DATA_DIR, load_table
from tutor.errors import CuratedError, LabError
from tutor.lab import answers, run
from tutor.lab.answers import QUESTIONS_FILE, BenchQuestion, load_questions
from tutor.lab.measure import EVAL_DOCUMENTS_FILE, EvalDocument, eval_documents
from tutor.memory import GPUS, MODEL_SHAPES, PRECISIONS, Gpu, ModelShape, Precision
from tutor.steps import FALLBACK_STEPS, FALLBACK_STEPS_FILE, FallbackStep, fallback_steps
from tutor.text import split_sentences
from tutor.verify import MISCONCEPTIONS, MISCONCEPTIONS_FILE, Misconception

ROOT = Path(__file__).parents[2]
LAB_DATA_DIR = QUESTIONS_FILE.parent
MISSING = "no-such-source.md"
FIELD_QUESTIONS_FILE = ROOT / "bench" / "data" / "field_questions.jsonl"
PREMISE_QUESTIONS_FILE = ROOT / "bench" / "data" / "premise_questions.jsonl"
TOPIC_QUESTIONS_FILE = ROOT / "bench" / "data" / "topic_questions.jsonl"

# Every packaged table: its file, its schema, and the field naming a source document.
TABLES = [
    (MISCONCEPTIONS_FILE, Misconception, "doc_id"),
    (FALLBACK_STEPS_FILE, FallbackStep, "doc_id"),
    (EVAL_DOCUMENTS_FILE, EvalDocument, "doc_id"),
    (QUESTIONS_FILE, BenchQuestion, "source"),
    (DATA_DIR / "precisions.yaml", Precision, "doc_id"),
]
TABLE_IDS = [path.name for path, _, _ in TABLES]
# Tables whose entries cite an outside source (a model's config.json, a GPU's figures page).
OUTSIDE_CITED = [(DATA_DIR / "model_shapes.yaml", ModelShape), (DATA_DIR / "gpus.yaml", Gpu)]


def read_raw(path: Path, entry_type) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return yaml.safe_load(path.read_text())[entry_type.table]


def write_raw(folder: Path, name: str, entry_type, entries: list) -> Path:
    """A copy of a table in `folder`, in the packaged file's format."""
    path = folder / name
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    else:
        path.write_text(yaml.safe_dump({entry_type.table: entries}, allow_unicode=True))
    return path


# -- the packaged tables -------------------------------------------------------------------


@pytest.mark.parametrize(("path", "entry_type", "doc_field"), TABLES, ids=TABLE_IDS)
def test_every_packaged_table_validates_against_its_schema(path, entry_type, doc_field):
    entries = load_table(path, entry_type)
    assert len(entries) >= entry_type.min_entries
    assert all(isinstance(entry, entry_type) for entry in entries)
    assert len(entries) == len(read_raw(path, entry_type)), "every entry was loaded"


@pytest.mark.parametrize(
    ("path", "entry_type"), OUTSIDE_CITED, ids=lambda p: getattr(p, "name", "")
)
def test_every_table_citing_outside_sources_validates(path, entry_type):
    assert len(load_table(path, entry_type)) == len(read_raw(path, entry_type))


def test_every_data_file_in_the_package_has_a_schema_here():
    found = {p for folder in (DATA_DIR, LAB_DATA_DIR) for p in folder.iterdir() if p.is_file()}
    assert found == {path for path, _, _ in TABLES} | {path for path, _ in OUTSIDE_CITED}


@pytest.mark.parametrize(("path", "entry_type", "doc_field"), TABLES, ids=TABLE_IDS)
def test_every_named_source_document_exists_and_can_be_cited(path, entry_type, doc_field):
    """The file is there, and it parses into chunks: a cited caution needs a chunk to quote.
    (Read without the schema, which checks the same: this test stands on its own.)"""
    named = {entry[doc_field] for entry in read_raw(path, entry_type)}
    missing = sorted(name for name in named if not (PACKAGED_SOURCES / name).is_file())
    assert not missing, f"{path.name} names documents not in knowledge/sources: {missing}"
    for name in named:
        assert chunk_document(parse_document(PACKAGED_SOURCES / name)), name


def test_each_questions_key_fact_is_stated_by_its_source():
    for question in load_table(QUESTIONS_FILE, BenchQuestion):
        text = (PACKAGED_SOURCES / question.source).read_text(encoding="utf-8")
        assert re.search(question.key_fact, text, re.IGNORECASE), question.question


def test_each_field_question_is_labelled_with_a_fact_its_source_states():
    rows = read_raw(FIELD_QUESTIONS_FILE, BenchQuestion)
    assert len({row["question"] for row in rows}) == len(rows)
    for row in rows:
        style = row.pop("style")
        question = BenchQuestion(**row)
        body = parse_document(PACKAGED_SOURCES / question.source).body
        assert style in ("formal", "learner"), question.question
        assert re.search(question.key_fact, body, re.IGNORECASE), question.question


def test_each_topic_question_is_labelled_on_or_off_topic_and_only_on_topic_ones_uncovered():
    rows = read_raw(TOPIC_QUESTIONS_FILE, dict)
    assert len({row["question"] for row in rows}) == len(rows)
    for row in rows:
        assert set(row) in ({"question", "on_topic"}, {"question", "on_topic", "covered"}), row
        assert isinstance(row["on_topic"], bool), row
        if "covered" in row:  # only on-topic questions are marked, and only as uncovered
            assert row["covered"] is False and row["on_topic"], row


def test_each_premise_question_is_settled_by_its_sources_words():
    rows = read_raw(PREMISE_QUESTIONS_FILE, dict)
    assert {row["truth"] for row in rows} == {"true", "false"}
    assert len({row["question"] for row in rows}) == len(rows)
    for row in rows:
        assert set(row) == {"question", "premise", "truth", "source", "evidence"}, row
        body = parse_document(PACKAGED_SOURCES / row["source"]).body
        # an asker's own observation is true, and no source speaks of it
        assert row["evidence"] in body or (row["evidence"], row["truth"]) == ("observation", "true")


def test_the_modules_read_the_packaged_tables():
    assert MISCONCEPTIONS == load_table(MISCONCEPTIONS_FILE, Misconception)
    assert FALLBACK_STEPS == load_table(FALLBACK_STEPS_FILE, FallbackStep)
    assert [q["question"] for q in load_questions(3)] == [
        q.question for q in load_table(QUESTIONS_FILE, BenchQuestion)[:3]
    ]
    evaluated = [doc.doc_id for doc in eval_documents()]
    assert evaluated == sorted(e.doc_id for e in load_table(EVAL_DOCUMENTS_FILE, EvalDocument))


def test_the_tables_ship_in_the_wheel_and_the_image():
    """pyproject's package-data takes every data file; the Dockerfile copies tutor/ whole."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["tutor"]
    for path, _, _ in TABLES:
        relative = path.relative_to(ROOT / "tutor").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
        assert path.is_relative_to(ROOT / "tutor")
    assert "COPY tutor tutor" in (ROOT / "Dockerfile").read_text()


# -- a missing source fails the load --------------------------------------------------------


@pytest.mark.parametrize(("path", "entry_type", "doc_field"), TABLES, ids=TABLE_IDS)
def test_a_table_naming_a_missing_source_fails_naming_file_and_entry(
    tmp_path, path, entry_type, doc_field
):
    entries = read_raw(path, entry_type)
    entries[1][doc_field] = MISSING
    copy = write_raw(tmp_path, path.name, entry_type, entries)
    with pytest.raises(CuratedError) as error:
        load_table(copy, entry_type)
    where = "line 2" if path.suffix == ".jsonl" else "entry 2"
    named = f"({entry_type.key} {entries[1][entry_type.key][:30]!r}"[:-1]  # quoted, maybe cut
    assert str(error.value).startswith(f"{path.name}: {where} {named}")
    assert str(error.value).endswith(
        f"field {doc_field!r}: no source document {MISSING!r} in knowledge/sources"
    )


def test_renaming_a_source_fails_the_tables_that_name_it(tmp_path):
    sources = tmp_path / "sources"
    shutil.copytree(PACKAGED_SOURCES, sources)
    (sources / "awq.md").rename(sources / "awq-activation-aware.md")
    with pytest.raises(CuratedError) as error:
        load_table(MISCONCEPTIONS_FILE, Misconception, sources_dir=sources)
    assert str(error.value) == (
        "misconceptions.yaml: entry 8 (claim 'AWQ picks salient channels by the size of the "
        f"wei…'), field 'doc_id': no source document 'awq.md' in {sources}"
    )
    with pytest.raises(CuratedError, match=r"eval_documents.yaml: entry 1 \(doc_id 'awq.md'\)"):
        load_table(EVAL_DOCUMENTS_FILE, EvalDocument, sources_dir=sources)
    assert load_table(FALLBACK_STEPS_FILE, FallbackStep, sources_dir=sources) == FALLBACK_STEPS


# -- broken files give clear errors ---------------------------------------------------------

VALID = {"claim": "int8 is lossless", "correction": "mostly, not always", "doc_id": "awq.md"}


@pytest.mark.parametrize(
    ("broken", "named", "field", "detail"),
    [
        ({**VALID, "claim": "  "}, "no claim", "claim", "at least 1 character"),
        ({**VALID, "correction": ""}, "claim 'int8 is lossless'", "correction", "at least 1"),
        ({k: v for k, v in VALID.items() if k != "doc_id"}, "claim", "doc_id", "Field required"),
        ({**VALID, "doc_id": "AWQ paper"}, "claim", "doc_id", "should match pattern"),
        ({**VALID, "doc": "awq.md"}, "claim", "doc", "Extra inputs are not permitted"),
        ("just a sentence", "no claim", "(the entry itself)", "valid dictionary"),
    ],
)
def test_schema_errors_name_the_file_entry_and_field(tmp_path, broken, named, field, detail):
    path = write_raw(tmp_path, "bad.yaml", Misconception, [VALID | {"claim": "first"}, broken])
    with pytest.raises(CuratedError) as error:
        load_table(path, Misconception)
    message = str(error.value)
    assert message.startswith(f"bad.yaml: entry 2 ({named}")
    assert f"field {field!r}: " in message and detail in message


def test_every_broken_entry_is_reported_at_once(tmp_path):
    path = write_raw(tmp_path, "bad.yaml", Misconception, [{**VALID, "doc_id": MISSING}, {}])
    with pytest.raises(CuratedError) as error:
        load_table(path, Misconception)
    lines = str(error.value).splitlines()
    assert lines[0].startswith("bad.yaml: entry 1 (claim 'int8 is lossless'), field 'doc_id'")
    assert [line.split(", field")[0] for line in lines[1:]] == ["bad.yaml: entry 2 (no claim)"] * 3


def test_table_level_errors_name_the_file(tmp_path):
    path = write_raw(tmp_path, "twice.yaml", Misconception, [VALID, VALID])
    with pytest.raises(
        CuratedError,
        match=r"twice.yaml: entry 2, field 'claim': duplicate 'int8 is lossless' \(also entry 1\)",
    ):
        load_table(path, Misconception)
    one_step = [{"step": "Try int8.", "risk": "It may lose quality.", "doc_id": "awq.md"}]
    path = write_raw(tmp_path, "steps.yaml", FallbackStep, one_step)
    with pytest.raises(CuratedError, match="steps.yaml: needs at least 2 entries, has 1"):
        load_table(path, FallbackStep)


def test_unreadable_and_malformed_files_are_curated_errors(tmp_path):
    with pytest.raises(CuratedError, match="absent.jsonl: cannot read the table"):
        load_table(tmp_path / "absent.jsonl", BenchQuestion)
    broken = tmp_path / "broken.yaml"
    broken.write_text("misconceptions: [unclosed")
    with pytest.raises(CuratedError, match="broken.yaml: not valid YAML"):
        load_table(broken, Misconception)
    broken.write_text("claims: []")
    with pytest.raises(CuratedError, match="broken.yaml: expected a mapping with one key, 'mis"):
        load_table(broken, Misconception)
    lines = tmp_path / "broken.jsonl"
    good = {"question": "What is NF4?", "key_fact": "NF4", "source": "qlora-nf4-double-quant.md"}
    lines.write_text(json.dumps(good) + "\n\n{not json\n")
    with pytest.raises(CuratedError, match="broken.jsonl: line 3: not valid JSON"):
        load_table(lines, BenchQuestion)
    lines.write_text(json.dumps({**good, "key_fact": "1\\s*(byte"}) + "\n")
    with pytest.raises(
        CuratedError,
        match=r"broken.jsonl: line 1 \(question 'What is NF4\?'\), field 'key_fact': not a valid "
        "regular expression",
    ):
        load_table(lines, BenchQuestion)


# -- the lab's questions ship, so missing ones are an error ---------------------------------


@pytest.fixture
def questions_missing(tmp_path, monkeypatch):
    answers._packaged_questions.cache_clear()
    monkeypatch.setattr(answers, "QUESTIONS_FILE", tmp_path / "questions.jsonl")
    yield
    monkeypatch.undo()
    answers._packaged_questions.cache_clear()


def test_missing_lab_questions_are_an_error_not_a_skip(questions_missing):
    with pytest.raises(CuratedError, match="questions.jsonl: cannot read the table"):
        load_questions()
    # The lab reads them first, before it uses its settings or the result it extends.
    with pytest.raises(LabError, match="the answer benchmark's questions: questions.jsonl"):
        run._with_answer_recall(None, None, 2)


# -- the next steps' fallback --------------------------------------------------------------


def source_for(doc_id: str, n: int, about: str = "") -> SourceRef:
    """As the service makes one: the document's first chunk, from the real source file."""
    chunk = chunk_document(parse_document(PACKAGED_SOURCES / doc_id))[0]
    return SourceRef(n, chunk.title, chunk.source, chunk.text[:80], chunk.url, doc_id)


def test_the_fallback_gives_two_cited_steps_preferring_retrieved_sources():
    retrieved = [source_for("lesson-verify-ai-answer.md", 1)]
    steps = fallback_steps(retrieved, source_for)
    assert len(steps) == 2 and all(step.step and step.risk for step in steps)
    assert steps[0].step == FALLBACK_STEPS[2].step and steps[0].citations == [1]
    assert steps[1].step == FALLBACK_STEPS[0].step and steps[1].citations == [2]
    assert [ref.doc_id for ref in retrieved] == [
        "lesson-verify-ai-answer.md",
        FALLBACK_STEPS[0].doc_id,
    ]


def test_a_caution_whose_source_the_index_lacks_is_passed_over():
    missing = FALLBACK_STEPS[0].doc_id

    def indexed_only(doc_id: str, n: int, about: str) -> SourceRef | None:
        return None if doc_id == missing else source_for(doc_id, n, about)

    retrieved: list[SourceRef] = []
    steps = fallback_steps(retrieved, indexed_only)
    assert len(steps) == 2
    assert missing not in [ref.doc_id for ref in retrieved]
    assert all(step.citations[0] in [ref.n for ref in retrieved] for step in steps)


def test_model_shapes_and_gpus_are_consistent_and_aliases_name_one_thing():
    for shape in MODEL_SHAPES:
        assert shape.attention_heads % shape.kv_heads == 0, shape.name  # grouped-query attention
    for entry in (*MODEL_SHAPES, *GPUS):
        assert entry.url.startswith("https://"), entry.name
    for gpu in GPUS:  # a generation is named with its compute capability, or not at all
        assert (gpu.architecture is None) == (gpu.compute_capability is None), gpu.name
    for table in (MODEL_SHAPES, PRECISIONS, GPUS):
        aliases = [alias.lower() for entry in table for alias in entry.aliases]
        assert len(aliases) == len(set(aliases))


def test_each_gpus_generation_is_the_one_the_sources_give_its_compute_capability():
    # "Volta for SM 7.0" (vLLM's table), "Ampere GPUs have compute capability 8.0 or 8.6"
    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    sentences = [s for doc in documents for s in split_sentences(doc.body)]
    for gpu in GPUS:
        if gpu.architecture:
            family = gpu.architecture.split()[0]  # "Ada Lovelace" is "Ada" in vLLM's table
            pairing = rf"\b{family}\b[^.]*?(?:compute capability|SM) [\d. ,andor]*"
            assert any(
                (m := re.search(pairing, s)) and gpu.compute_capability in m.group()
                for s in sentences
            ), gpu.name
