"""Source documents: Markdown with front matter, read and split into chunks.

A chunk is one idea (a paragraph under its heading) with its numbers intact, and
it carries its document's title and source so that any chunk can be cited alone.
"""

import hashlib
import logging
import re
from dataclasses import dataclass, fields
from pathlib import Path

import yaml
from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from knowledge.errors import SourceError

log = logging.getLogger(__name__)

PACKAGED_SOURCES = Path(__file__).parent / "sources"
TOPIC_MAP = Path(__file__).parent / "topics.yaml"  # each topic: id, title, documents
REQUIRED_FIELDS = ("title", "source", "url", "license")
MAX_CHUNK_CHARS = 900

_header_splitter = MarkdownHeaderTextSplitter(
    headers_to_split_on=[("#", "h1"), ("##", "h2"), ("###", "h3")], strip_headers=True
)
# keep_separator="end": a cut at ". " leaves the full stop with its sentence, not at the
# head of the next chunk (". vLLM's flag ...").
_paragraph_splitter = RecursiveCharacterTextSplitter(
    chunk_size=MAX_CHUNK_CHARS,
    chunk_overlap=0,
    separators=["\n\n", "\n", ". ", " "],
    keep_separator="end",
)


@dataclass(frozen=True)
class NextStep:
    step: str
    risk: str


@dataclass(frozen=True)
class SourceQuestion:
    """A question as learners ask it, and the body sentence that answers it: learners
    rarely use a source's words ("my ppl is way worse than reported" for "chunked
    perplexity is worse because the model has less context")."""

    question: str
    answer: str


@dataclass(frozen=True)
class Document:
    path: Path
    title: str
    source: str
    url: str
    license: str
    body: str
    trusted: str = "curated"  # "curated", "user" or "moderator"
    topic: str = ""  # a topic of knowledge/topics.yaml (curated documents)
    # The document's own next steps, each with one reason it might be wrong.
    next_steps: tuple[NextStep, ...] = ()
    questions: tuple[SourceQuestion, ...] = ()

    @property
    def doc_id(self) -> str:
        return self.path.name

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.title}\n{self.source}\n{self.body}".encode()).hexdigest()


_CHUNK_META = ("doc_id", "title", "source", "url", "section", "trusted")


@dataclass(frozen=True)
class Chunk:
    text: str
    doc_id: str
    title: str
    source: str
    url: str = ""
    section: str = ""
    trusted: str = "curated"

    @property
    def chunk_id(self) -> str:
        return f"{self.doc_id}#{hashlib.sha1(self.text.encode()).hexdigest()[:12]}"

    def to_metadata(self) -> dict:
        return {name: getattr(self, name) for name in _CHUNK_META}

    @classmethod
    def from_metadata(cls, text: str, meta: dict) -> "Chunk":
        return cls(text=text, **{name: str(meta.get(name, "")) for name in _CHUNK_META})


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


def parse_document(path: Path, trusted: str = "curated") -> Document:
    """Read one source file; SourceError says what is wrong and where."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SourceError(f"{path}: cannot be read as UTF-8 text ({error})") from None
    match = _FRONT_MATTER.match(text)
    if not match:
        raise SourceError(
            f"{path}:1: no front matter (a '---' block with {', '.join(REQUIRED_FIELDS)})"
        )
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 2 if mark else 1
        raise SourceError(f"{path}:{line}: front matter is not valid YAML") from None
    if not isinstance(meta, dict):
        raise SourceError(f"{path}:2: front matter must be 'key: value' lines")
    for name in REQUIRED_FIELDS:
        if name not in meta or meta[name] is None:
            raise SourceError(f"{path}:2: front matter lacks '{name}'")
    for name in ("title", "source"):
        if not str(meta[name]).strip():
            raise SourceError(f"{path}:2: front matter '{name}' is empty")
    body = text[match.end() :].strip()
    if not body:
        raise SourceError(f"{path}: has front matter but no text")
    return Document(
        topic=str(meta.get("topic") or "").strip(),
        next_steps=_pairs(path, meta, "next_steps", NextStep),
        questions=_pairs(path, meta, "questions", SourceQuestion),
        path=path,
        title=str(meta["title"]).strip(),
        source=str(meta["source"]).strip(),
        url=str(meta["url"]).strip(),
        license=str(meta["license"]).strip(),
        body=body,
        trusted=trusted,
    )


def _pairs(path: Path, meta: dict, key: str, entry_type):
    """The front matter's list under `key`, each item a mapping with exactly the two
    fields of `entry_type` (NextStep, SourceQuestion), as a tuple of them."""
    raw = meta.get(key)
    if raw is None:
        return ()
    first, second = (f.name for f in fields(entry_type))
    if not isinstance(raw, list) or not all(
        isinstance(item, dict) and set(item) == {first, second} for item in raw
    ):
        raise SourceError(f"{path}:2: {key} must be a list of '{first}:' and '{second}:' pairs")
    return tuple(entry_type(str(i[first]).strip(), str(i[second]).strip()) for i in raw)


def load_documents(folders: list[tuple[Path, str]]) -> tuple[list[Document], list[str]]:
    """Every readable document in the folders, and one error line per unusable file.

    A broken file never stops the others from loading.
    """
    documents, errors = [], []
    for folder, trusted in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.md")):
            try:
                documents.append(parse_document(path, trusted))
            except SourceError as error:
                log.warning("skipping source: %s", error)
                errors.append(str(error))
    return documents, errors


def chunk_document(doc: Document) -> list[Chunk]:
    """Split by heading, then by paragraph; tiny fragments join their neighbour."""
    chunks = []
    for section in _header_splitter.split_text(doc.body):
        heading = section.metadata.get("h3") or section.metadata.get("h2") or ""
        paragraphs = [p.strip() for p in section.page_content.split("\n\n") if p.strip()]
        for text in _merge_short(paragraphs):
            for piece in _paragraph_splitter.split_text(text):
                chunks.append(
                    Chunk(
                        text=piece,
                        doc_id=doc.doc_id,
                        title=doc.title,
                        source=doc.source,
                        url=doc.url,
                        section=heading,
                        trusted=doc.trusted,
                    )
                )
    return chunks


def _merge_short(paragraphs: list[str], min_chars: int = 120) -> list[str]:
    """A list item or a one-line lead-in means little alone: keep it with what follows."""
    merged: list[str] = []
    carry = ""
    for paragraph in paragraphs:
        text = f"{carry}\n{paragraph}".strip() if carry else paragraph
        if len(text) < min_chars:
            carry = text
            continue
        merged.append(text)
        carry = ""
    if carry:
        if merged:
            merged[-1] = f"{merged[-1]}\n{carry}"
        else:
            merged.append(carry)
    return merged


def load_topics() -> list[dict]:
    """The topic map's topics (knowledge/topics.yaml), as written: id, title, documents."""
    return yaml.safe_load(TOPIC_MAP.read_text(encoding="utf-8"))["topics"]
