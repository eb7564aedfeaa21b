import json
from pathlib import Path

import pytest

from knowledge.documents import (
    PACKAGED_SOURCES,
    chunk_document,
    load_documents,
    load_topics,
    parse_document,
)
from knowledge.errors import SourceError
from tutor.checker.labelled import split_of
from tutor.text import split_sentences

FIELD_QUESTIONS = Path(__file__).parents[2] / "bench" / "data" / "field_questions.jsonl"


def test_every_packaged_source_has_valid_front_matter_and_a_source():
    documents, errors = load_documents([(PACKAGED_SOURCES, "curated")])
    assert errors == []
    assert len(documents) >= 100
    for doc in documents:
        assert doc.title and doc.source and doc.license, doc.doc_id
        assert doc.url.startswith("https://") or doc.topic == "lesson", doc.doc_id
        assert len(doc.body.split()) > 60, doc.doc_id
        assert len(doc.next_steps) == 2, doc.doc_id
        assert all(len(s.step) > 20 and len(s.risk) > 20 for s in doc.next_steps), doc.doc_id


def test_the_topic_map_and_the_documents_agree():
    topics = load_topics()
    mapped = {name: t["id"] for t in topics for name in t["documents"]}
    assert sum(len(t["documents"]) for t in topics) == len(mapped), "a document in two topics"
    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    assert mapped == {doc.doc_id: doc.topic for doc in documents}
    assert all(t["title"] and t["documents"] for t in topics)


def test_each_source_question_is_answered_by_one_sentence_of_its_document():
    # The lead reads chunk by chunk: an answer must be one of a chunk's sentences as split.
    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    for doc in documents:
        assert len(doc.questions) >= 3, doc.doc_id
        sentences = {s for chunk in chunk_document(doc) for s in split_sentences(chunk.text)}
        for asked in doc.questions:
            assert asked.answer in sentences, (doc.doc_id, asked.answer)
            assert asked.question not in sentences, (doc.doc_id, "a question copies its answer")
        assert len({q.question for q in doc.questions}) == len(doc.questions), doc.doc_id


def test_no_held_out_field_question_is_among_the_sources_questions():
    # bench/learner_questions.py adds the other splits; the held-out one is what we measure
    rows = [json.loads(line) for line in FIELD_QUESTIONS.read_text().splitlines() if line]
    held_out = {row["question"] for row in rows if split_of(row["question"]) == "held-out"}
    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    asked = {q.question for doc in documents for q in doc.questions}
    assert len(held_out) > 300 and not held_out & asked


def test_malformed_questions_name_the_file(tmp_path):
    path = tmp_path / "bad.md"
    path.write_text(
        "---\ntitle: T\nsource: S\nurl: ''\nlicense: x\nquestions: [{question: q}]\n---\nText.\n"
    )
    with pytest.raises(SourceError, match="bad.md:2: questions must be a list"):
        parse_document(path)


def test_malformed_next_steps_name_the_file(tmp_path):
    path = tmp_path / "bad.md"
    path.write_text("---\ntitle: T\nsource: S\nurl: ''\nlicense: x\nnext_steps: [a]\n---\nText.\n")
    with pytest.raises(SourceError, match="next_steps must be a list"):
        parse_document(path)


def test_chunks_keep_title_source_and_numbers_intact():
    doc = parse_document(PACKAGED_SOURCES / "llama-cpp-perplexity-kld.md")
    chunks = chunk_document(doc)
    assert all(c.title == doc.title and c.source == doc.source for c in chunks)
    assert any("6.4071" in c.text for c in chunks)
    assert all(len(c.text) <= 900 for c in chunks)


def test_a_chunk_cut_inside_a_paragraph_leaves_the_full_stop_with_its_sentence():
    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    starts = [c.text[:40] for doc in documents for c in chunk_document(doc)]
    assert not [s for s in starts if s[0] in ".,;:"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter here\n", ":1: no front matter"),
        ("---\ntitle: [unclosed\n---\nbody\n", "front matter is not valid YAML"),
        ("---\ntitle: T\nurl: ''\nlicense: x\n---\nbody\n", "lacks 'source'"),
        ("---\ntitle: T\nsource: ''\nurl: ''\nlicense: x\n---\nbody\n", "'source' is empty"),
        ("---\ntitle: T\nsource: S\nurl: ''\nlicense: x\n---\n\n", "no text"),
    ],
)
def test_a_malformed_source_names_the_file_and_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "bad.md"
    path.write_text(text)
    with pytest.raises(SourceError, match=message) as caught:
        parse_document(path)
    assert str(path) in str(caught.value)


def test_one_broken_file_does_not_stop_the_rest(tmp_path):
    (tmp_path / "good.md").write_text("---\ntitle: T\nsource: S\nurl: ''\nlicense: x\n---\nText.\n")
    (tmp_path / "bad.md").write_bytes(b"\xff\xfe not utf-8")
    documents, errors = load_documents([(tmp_path, "user")])
    assert [d.doc_id for d in documents] == ["good.md"]
    assert len(errors) == 1 and "bad.md" in errors[0]
