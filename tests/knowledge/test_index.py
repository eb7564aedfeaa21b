"""The real Chroma index over the packaged sources."""

import shutil

import pytest
from chromadb.api.client import SharedSystemClient

from knowledge.documents import PACKAGED_SOURCES
from knowledge.embeddings import embed
from knowledge.index import KnowledgeIndex


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    index = KnowledgeIndex(tmp_path_factory.mktemp("index"), [(PACKAGED_SOURCES, "curated")])
    index.sync(progress=False)
    return index


@pytest.mark.parametrize(
    ("query", "doc_id"),
    [
        ("Q4_K_M perplexity and KLD", "llama-cpp-perplexity-kld.md"),
        ("q4 vs q8?", "llama-cpp-perplexity-kld.md"),
        ("what is NF4", "qlora-nf4-double-quant.md"),
        ("LLM.int8() outlier features", "llm-int8-outliers.md"),
        ("SmoothQuant W8A8", "smoothquant.md"),
        ("how much ram for 7b in int8", "memory-7b-model.md"),
    ],
)
def test_exact_terms_find_the_right_document(index, query, doc_id):
    hits = index.search(query, k=4)
    assert doc_id in [hit.chunk.doc_id for hit in hits]


@pytest.mark.parametrize(
    ("query", "doc_id"),
    [
        # short of both bars alone, but meaning and terms point to the same document
        ("aqlm models are slow for me, is that normal", "aqlm.md"),
        ("exl2 4.65bpw how can bpw be fractional", "exl2-format.md"),
        # short of every bar on chunks, but worded like one of the sources' own questions
        ("What are the main techniques QLoRA introduced?", "qlora-nf4-double-quant.md"),
    ],
)
def test_a_short_question_is_covered_where_meaning_and_terms_agree(index, query, doc_id):
    assert doc_id in [hit.chunk.doc_id for hit in index.search(query, k=4)]


@pytest.mark.parametrize(
    "query",
    [
        "capital of France",
        "how to cook pasta",
        "tell me a joke",
        "is a 4-bit drill set good for woodworking",
        "What bits should I use for drilling into concrete?",
        # on topic, but no source covers them: near a source question, not near enough
        "what is FP6-LLM",
        "how do I quantize a model in candle",
        "how do i export an int8 model to openvino",
    ],
)
def test_unrelated_questions_retrieve_nothing(index, query):
    assert index.search(query, k=4) == []


def test_near_duplicate_chunks_are_returned_once(index):
    hits = index.search("int8 quantization quality", k=8)
    texts = [hit.chunk.text for hit in hits]
    assert len(texts) == len(set(texts))


def test_a_question_worded_like_a_sources_own_question_is_close_to_its_answer(tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    answer = "Chunked evaluation gives less context."
    (folder / "ppl.md").write_text(
        "---\ntitle: Perplexity\nsource: Test\nurl: ''\nlicense: x\nquestions:\n"
        "  - {question: 'my ppl is way worse than the paper, is my quant broken?', "
        f"answer: '{answer}'}}\n---\n# Perplexity\n\n{answer} Strides help.\n"
    )
    index = KnowledgeIndex(tmp_path / "index", [(folder, "user")])
    index.sync(progress=False)
    query = "why is my perplexity worse than what the paper says"
    closeness = index.answer_closeness(query)
    assert list(closeness) == [("ppl.md", answer)]
    # far closer than the answer's own words are (0.24), and nothing like an unrelated query
    assert closeness["ppl.md", answer] > float(embed([answer])[0] @ embed([query])[0]) + 0.2
    assert index.answer_closeness("how do I bake bread")["ppl.md", answer] < 0.2


def test_indexing_is_incremental(tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    note = (
        "---\ntitle: {t}\nsource: Test\nurl: ''\nlicense: x\n---\n# {t}\n\nGGUF Q5_K_S files {t}.\n"
    )
    (folder / "a.md").write_text(note.format(t="Alpha"))
    (folder / "b.md").write_text(note.format(t="Beta"))
    index = KnowledgeIndex(tmp_path / "index", [(folder, "user")])
    assert index.sync(progress=False).added == 2
    again = KnowledgeIndex(tmp_path / "index", [(folder, "user")]).sync(progress=False)
    assert (again.added, again.unchanged) == (0, 2)
    (folder / "b.md").write_text(note.format(t="Gamma"))
    (folder / "a.md").unlink()
    changed = index.sync(progress=False)
    assert (changed.added, changed.removed, changed.unchanged) == (1, 1, 0)
    assert {h.chunk.title for h in index.search("GGUF Q5_K_S files", k=4)} == {"Gamma"}


def _tiny_sources(folder):
    folder.mkdir()
    (folder / "a.md").write_text(
        "---\ntitle: Alpha\nsource: Test\nurl: ''\nlicense: x\n---\n# Alpha\n\n"
        "GGUF Q5_K_S files keep five bits per weight in blocks.\n"
    )
    return [(folder, "user")]


def test_a_deleted_index_is_rebuilt_from_the_sources(tmp_path):
    folders = _tiny_sources(tmp_path / "sources")
    KnowledgeIndex(tmp_path / "index", folders).sync(progress=False)
    shutil.rmtree(tmp_path / "index" / "chroma")
    SharedSystemClient.clear_system_cache()  # as a fresh process would start
    index = KnowledgeIndex(tmp_path / "index", folders)
    assert index.sync(progress=False).added == 1
    assert index.search("GGUF Q5_K_S files", k=1)


def test_a_corrupted_index_is_rebuilt_with_a_log_line(tmp_path, caplog):
    folders = _tiny_sources(tmp_path / "sources")
    KnowledgeIndex(tmp_path / "index", folders).sync(progress=False)
    SharedSystemClient.clear_system_cache()
    (tmp_path / "index" / "chroma" / "chroma.sqlite3").write_bytes(b"not a database" * 100)
    index = KnowledgeIndex(tmp_path / "index", folders)
    assert "unreadable" in caplog.text and "rebuilding" in caplog.text
    assert index.sync(progress=False).added == 1
    assert index.search("GGUF Q5_K_S files", k=1)


def test_a_term_the_sources_use_makes_a_question_on_topic(tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "zorblat.md").write_text(
        "---\ntitle: Zorblat\nsource: S\nurl: ''\nlicense: x\n---\n"
        "The Zorblat quantizer stores weights in 3 bits with one scale per block.\n"
    )
    index = KnowledgeIndex(tmp_path / "index", [(folder, "curated")])
    index.sync(progress=False)
    assert index.is_on_topic("ok but what even is a zorblat??")
    assert not index.is_on_topic("how do I cook pasta for four people")


@pytest.mark.parametrize(
    "query",
    ["who won the world cup in 2022", "What's a good recipe for lasagna?", "tell me a joke"],
)
def test_everyday_questions_are_off_topic(index, query):
    assert not index.is_on_topic(query)


@pytest.mark.parametrize("query", ["whats a q4_k_m", "per-channel vs per-tensor scales?"])
def test_field_questions_are_on_topic(index, query):
    assert index.is_on_topic(query)


@pytest.mark.parametrize(
    ("question", "unknown"),
    [
        ("Does TFLite support int8 quantization?", ["TFLite"]),
        ("what is LongLoRA and is it better than QLoRA?", ["LongLoRA"]),
        ("Can I run Whisper with CTranslate2?", ["CTranslate2"]),
        # The sources' own names, however typed: plural, GGUF spelling, a version, capitals.
        ("are H100s faster than A100s for NF4?", []),
        ("q4km vs q4ks, and what is BitNet b1.58?", []),
        ("WHY IS MY INT8 MODEL SO SLOW ON GPTQ", []),
        ("can i run an awq model in vllm on a v100", []),  # named in a curated next step
        # a learner's shorthand for a quantity, and a name the sources hyphenate
        ("g32 or g128 at bs1 for my gpt2 and llama3?", []),
        ("is phi3 ok at 4bit?", ["phi3"]),
    ],
)
def test_names_no_source_uses_are_told_apart(index, question, unknown):
    assert index.unknown_names(question) == unknown
