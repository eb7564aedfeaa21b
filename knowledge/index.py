"""The index: chunks embedded into Chroma, searched by meaning and by exact terms.

Vectors live in a Chroma PersistentClient under the data directory, or in a Chroma
server for larger deployments. A manifest of document digests (always in the data
directory) makes indexing incremental: only changed documents re-embed.
"""

import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import chromadb
import numpy as np
from chromadb.api.client import SharedSystemClient
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.documents import Document as LCDocument
from rank_bm25 import BM25Okapi
from tqdm import tqdm

from knowledge.documents import (
    PACKAGED_SOURCES,
    Chunk,
    Document,
    chunk_document,
    load_documents,
)
from knowledge.embeddings import cached_embeddings, embed_query, get_embeddings, is_common_word
from knowledge.errors import IndexUnavailable
from knowledge.terms import search_terms

log = logging.getLogger(__name__)

COLLECTION = "quantutor_knowledge"
LEXICAL_WEIGHT = 0.35
LEXICAL_STRONG = 0.5  # share of the best BM25 score that admits a chunk on exact terms alone
# A question is covered when a chunk is close in meaning, or fairly close and strong on
# exact terms (calibrated on tutor/lab/data/questions.jsonl against near-miss questions),
COVERED_COSINE = 0.5
# 10.5 since the 133-document corpus: its term weights gave "what is 17 times 23" 10.07
COVERED_LEXICAL = 10.5
# or when meaning and exact terms point to one document, each only fairly: a learner's
# "aqlm models are slow for me" is short of both bars, but both find the AQLM document.
AGREED_COSINE = 0.4
AGREED_DEPTH = 3  # the closest chunks by meaning that the best chunk on terms is looked for in
# or when it is worded like one of the sources' own questions, which a source answers by
# construction ("What are the main techniques QLoRA introduced?" is short of every other bar).
# The 40 labelled off-topic questions come no closer than 0.47; of 20 on-topic questions the
# sources do not cover (FP6-LLM, QServe, candle, OpenVINO...) none reaches 0.6, 5 reach 0.55.
ASKED_BEFORE = 0.6
NEAR_DUPLICATE = 0.85
# A question this close in meaning to some chunk is about the field even when no chunk
# answers it (calibrated on bench/data/topic_questions.jsonl, its calibration split).
TOPIC_COSINE = 0.45  # calibration: off topic at most 0.42, on topic at least 0.51


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float
    cosine: float
    lexical: float


@dataclass(frozen=True)
class SyncReport:
    added: int
    removed: int
    unchanged: int
    chunks: int
    errors: tuple[str, ...]


class KnowledgeIndex:
    def __init__(
        self, index_dir: Path, folders: list[tuple[Path, str]], chroma_url: str | None = None
    ):
        self.index_dir = index_dir
        self.folders = folders
        self.chroma_url = chroma_url
        self._manifest_path = index_dir / "manifest.json"
        self._store = self._open_store()
        self._chunks: list[Chunk] = []
        self._bm25: BM25Okapi | None = None
        self._field_terms: frozenset[str] = frozenset()
        self._documents: dict[str, Document] = {}
        self._answers: list[tuple[str, str]] = []  # (doc_id, sentence) per source question
        self._question_vectors = np.zeros((0, 384), dtype=np.float32)

    @classmethod
    def from_settings(cls, settings) -> "KnowledgeIndex":
        folders = [(PACKAGED_SOURCES, "curated"), (settings.data_dir / "corrections", "moderator")]
        if settings.extra_sources_dir:
            folders.append((settings.extra_sources_dir, "user"))
        return cls(settings.index_dir, folders, settings.chroma_url)

    def _open_store(self) -> Chroma:
        """The Chroma collection; an unreadable local one is deleted and rebuilt from the
        sources, while a server that fails is reported, never wiped."""
        try:
            return self._connect()
        except Exception as error:  # chromadb raises many kinds on a damaged directory
            if self.chroma_url:
                raise IndexUnavailable(
                    f"QUANTUTOR_CHROMA_URL: cannot use the Chroma server at {self.chroma_url} "
                    f"({str(error).strip().splitlines()[0] if str(error).strip() else error!r})"
                ) from None
            log.warning("the index in %s is unreadable (%s): rebuilding it", self.index_dir, error)
            shutil.rmtree(self.index_dir, ignore_errors=True)
            SharedSystemClient.clear_system_cache()  # forget the damaged files' open handles
            return self._connect()

    def _connect(self) -> Chroma:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        telemetry_off = ChromaSettings(anonymized_telemetry=False)
        if self.chroma_url:
            url = urlsplit(self.chroma_url)
            client = chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=telemetry_off,
            )
        else:
            client = chromadb.PersistentClient(
                path=str(self.index_dir / "chroma"), settings=telemetry_off
            )
        store = Chroma(
            client=client,
            collection_name=COLLECTION,
            embedding_function=get_embeddings(),
            collection_metadata={"hnsw:space": "cosine"},
        )
        store.get(limit=1)  # fails here, not mid-answer, if the files are damaged
        return store

    # -- indexing ---------------------------------------------------------------

    def sync(self, progress: bool = True, force: bool = False) -> SyncReport:
        """Bring the index in line with the source folders; embed only what changed."""
        documents, errors = load_documents(self.folders)
        manifest = {} if force or self._is_empty() else self._read_manifest()
        current = {doc.doc_id: doc for doc in documents}
        changed = [doc for doc in documents if manifest.get(doc.doc_id) != doc.digest]
        stale = [doc_id for doc_id in manifest if doc_id not in current]
        if force:
            stale = list(self._indexed_doc_ids())
        for doc_id in stale + [doc.doc_id for doc in changed]:
            self._store.delete(where={"doc_id": doc_id})
            manifest.pop(doc_id, None)
        bar = tqdm(
            changed, desc="Indexing sources", unit="doc", disable=not progress or not changed
        )
        for doc in bar:
            self._add(doc)
            manifest[doc.doc_id] = doc.digest
            self._write_manifest(manifest)  # after each document: an interruption loses one
        self._write_manifest(manifest)
        self._load_lexical(documents)
        self._load_questions(documents)
        return SyncReport(
            added=len(changed),
            removed=len([d for d in stale if d not in current]),
            unchanged=len(documents) - len(changed),
            chunks=len(self._chunks),
            errors=tuple(errors),
        )

    def _add(self, doc: Document) -> None:
        chunks = chunk_document(doc)
        self._store.add_documents(
            [LCDocument(page_content=c.text, metadata=c.to_metadata()) for c in chunks],
            ids=[c.chunk_id for c in chunks],
        )

    def _is_empty(self) -> bool:
        return not self._store.get(limit=1)["ids"]

    def _indexed_doc_ids(self) -> set[str]:
        metadatas = self._store.get(include=["metadatas"])["metadatas"]
        return {m.get("doc_id", "") for m in metadatas}

    def _read_manifest(self) -> dict:
        try:
            return json.loads(self._manifest_path.read_text())
        except (OSError, ValueError):
            return {}

    def _write_manifest(self, manifest: dict) -> None:
        tmp = self._manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        tmp.replace(self._manifest_path)

    def _load_lexical(self, documents: list[Document]) -> None:
        self._documents = {doc.doc_id: doc for doc in documents}
        self._chunks = [chunk for doc in documents for chunk in chunk_document(doc)]
        corpus = [search_terms(f"{c.title} {c.section} {c.text}") for c in self._chunks]
        self._bm25 = BM25Okapi(corpus) if corpus else None
        indexed = {t for terms in corpus for t in terms}
        self._field_terms = frozenset(t for t in indexed if _is_field_term(t))
        steps = " ".join(f"{s.step} {s.risk}" for doc in documents for s in doc.next_steps)
        self._vocabulary = frozenset(indexed | set(search_terms(steps)))  # all the sources say

    def _load_questions(self, documents: list[Document]) -> None:
        asked = [(doc.doc_id, q) for doc in documents for q in doc.questions]
        self._answers = [(doc_id, q.answer) for doc_id, q in asked]
        self._question_vectors = cached_embeddings(
            [q.question for _, q in asked], self.index_dir / "question-vectors.npz"
        )

    @property
    def chunks(self) -> list[Chunk]:
        return list(self._chunks)

    def document(self, doc_id: str) -> Document | None:
        return self._documents.get(doc_id)

    @property
    def document_titles(self) -> list[str]:
        return sorted({c.title for c in self._chunks})

    # -- retrieval ----------------------------------------------------------------

    def search(self, query: str, k: int = 4, floor: float = 0.25) -> list[Hit]:
        """The k best chunks by meaning plus exact terms, near-duplicates removed.

        A covered query keeps the chunks whose cosine similarity reaches the floor and
        those strong on exact terms (so 'Q4_K_M' is found even when phrased oddly).
        """
        if not self._chunks or not query.strip():
            return []
        lexical = self._lexical_scores(query)
        by_id = {c.chunk_id: c for c in self._chunks}
        cosine = {}
        asked = embed_query(query)
        vector_hits = self._store.similarity_search_by_vector_with_relevance_scores(
            list(asked), k=min(len(self._chunks), max(20, 4 * k))
        )
        for doc, distance in vector_hits:  # Chroma returns the cosine distance
            chunk = Chunk.from_metadata(doc.page_content, doc.metadata)
            cosine[chunk.chunk_id] = 1.0 - float(distance)
            by_id.setdefault(chunk.chunk_id, chunk)
        best_cosine = max(cosine.values(), default=0.0)
        top = max(lexical.values(), default=0.0)
        closest_docs = {doc.metadata["doc_id"] for doc, _ in vector_hits[:AGREED_DEPTH]}
        agreed = best_cosine >= AGREED_COSINE and any(
            score == top and by_id[cid].doc_id in closest_docs for cid, score in lexical.items()
        )
        near = best_cosine >= COVERED_COSINE or (best_cosine >= floor and top >= COVERED_LEXICAL)
        if not (near or agreed or self._asked_before(asked)):
            return []  # not covered: better no source than a misleading one
        hits = []
        for cid in set(cosine) | set(lexical):
            cos = cosine.get(cid, 0.0)
            lex = lexical.get(cid, 0.0) / top if top else 0.0
            if cos < floor and lex < LEXICAL_STRONG:
                continue
            hits.append(
                Hit(by_id[cid], (1 - LEXICAL_WEIGHT) * cos + LEXICAL_WEIGHT * lex, cos, lex)
            )
        hits.sort(key=lambda h: h.score, reverse=True)
        return _drop_near_duplicates(hits)[:k]

    def _question_scores(self, query_vector) -> np.ndarray:
        """Cosine of the query to each of the sources' own questions."""
        return self._question_vectors @ np.asarray(query_vector, dtype=np.float32)

    def _asked_before(self, query_vector) -> bool:
        scores = self._question_scores(query_vector)
        return bool(scores.size) and float(scores.max()) >= ASKED_BEFORE

    def answer_closeness(self, query: str) -> dict[tuple[str, str], float]:
        """For each sentence that answers one of the sources' own questions, keyed by
        (doc_id, sentence): how close in meaning the query is to the closest of them."""
        closeness: dict[tuple[str, str], float] = {}
        scores = self._question_scores(embed_query(query))
        for answer, score in zip(self._answers, scores.tolist(), strict=True):
            closeness[answer] = max(closeness.get(answer, -1.0), score)
        return closeness

    def is_on_topic(self, query: str) -> bool:
        """Whether a question is about what the sources cover, even where no chunk answers
        it: it names one of the sources' own field terms, or its meaning is near theirs."""
        if any(term in self._field_terms for term in search_terms(query)):
            return True
        if not self._chunks:
            return False
        nearest = self._store.similarity_search_by_vector_with_relevance_scores(
            list(embed_query(query)), k=1
        )
        return bool(nearest) and 1.0 - float(nearest[0][1]) >= TOPIC_COSINE

    def unknown_names(self, text: str) -> list[str]:
        """The names in `text` that no source uses ('TFLite', 'rsLoRA', 'CTranslate2'), as
        written: whatever an answer says of them does not come from the sources."""
        unknown = []
        for token in dict.fromkeys(_NAME_TOKEN.findall(text)):
            if not _looks_like_name(token):
                continue
            term = search_terms(token)[0]  # as the sources spell their terms: 'q4km' is q4_k_m
            spellings = {term, term.removesuffix("s"), _VERSION.sub(r"\1-\2", term)}  # gpt-2
            if not spellings & self._vocabulary:
                unknown.append(token)
        return unknown

    def _lexical_scores(self, query: str) -> dict[str, float]:
        terms = search_terms(query)
        if self._bm25 is None or not terms:
            return {}
        scores = self._bm25.get_scores(terms)
        return {c.chunk_id: float(s) for c, s in zip(self._chunks, scores) if s > 0}


_NAME_TOKEN = re.compile(r"\b[A-Za-z][A-Za-z0-9_.]*[A-Za-z0-9]")  # 'b1.58', 'Q4_K_M', 'H100s'


_VERSION = re.compile(r"^([a-z]{3,})(\d+)$")  # 'gpt2', 'llama3': names the sources hyphenate
_SHORTHAND = re.compile(r"(?:g|gs|bs)\d+")  # 'g32' (group size), 'bs1' (batch size): not names


def _looks_like_name(token: str) -> bool:
    """'ONNX', 'TFLite', 'rsLoRA', 'M3', 'CTranslate2': capitals inside or a digit, and not
    an everyday word ('WHY' typed in capitals) or a learner's shorthand for a quantity
    ('g32', 'bs1'); 'PR' and other two-capital tokens are too ambiguous to name anything."""
    if _SHORTHAND.fullmatch(token):
        return False
    if any(c.isdigit() for c in token):
        return True
    if token.isupper():
        return len(token) > 2 and not is_common_word(token.lower())
    return any(c.isupper() for c in token[1:]) and not is_common_word(token.lower())


def _is_field_term(term: str) -> bool:
    """A term of the field rather than of everyday English: 'q4_k_m', 'nf4', 'gguf'. Plain
    numbers ('2022') and words the embedding model knows whole ('memory') are not."""
    if not any(c.isalpha() for c in term) or len(term) < 3:
        return False
    return any(c.isdigit() for c in term) or not is_common_word(term)


def _drop_near_duplicates(hits: list[Hit]) -> list[Hit]:
    kept: list[Hit] = []
    kept_terms: list[set[str]] = []
    for hit in hits:
        terms = set(search_terms(hit.chunk.text))
        if any(_jaccard(terms, other) >= NEAR_DUPLICATE for other in kept_terms):
            continue
        kept.append(hit)
        kept_terms.append(terms)
    return kept


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
