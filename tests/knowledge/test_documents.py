import pytest

from knowledge.documents import (
    PACKAGED_SOURCES,
    chunk_document,
    load_documents,
    parse_document,
)
from knowledge.errors import SourceError


def test_every_packaged_source_has_valid_front_matter_and_a_source():
    documents, errors = load_documents([(PACKAGED_SOURCES, "curated")])
    assert errors == []
    assert 20 <= len(documents) <= 60
    for doc in documents:
        assert doc.title and doc.source and doc.license
        assert len(doc.body.split()) > 60, doc.doc_id


def test_chunks_keep_title_source_and_numbers_intact():
    doc = parse_document(PACKAGED_SOURCES / "llama-cpp-perplexity-kld.md")
    chunks = chunk_document(doc)
    assert all(c.title == doc.title and c.source == doc.source for c in chunks)
    assert any("6.4071" in c.text for c in chunks)
    assert all(len(c.text) <= 900 for c in chunks)


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
