"""What an answer is, and how it reads: the same object renders for the console and Discord."""

from dataclasses import asdict, dataclass, field
from typing import Literal

Status = Literal["supported", "uncertain", "overbroad", "contradicted"]
Kind = Literal["answer", "not_covered", "off_topic"]

MARKERS = {
    "uncertain": "unsupported",
    "overbroad": "too broad",
    "contradicted": "contradicts sources",
}


@dataclass(frozen=True)
class Asker:
    """Who asked and where; the console is user 'console' with no server."""

    user_id: str = "console"
    guild_id: str = ""
    channel_id: str = ""


@dataclass
class Sentence:
    text: str
    status: Status
    score: float
    citations: list[int]
    reason: str = ""
    origin: Literal["arithmetic", "source", "draft"] = "draft"

    @property
    def flagged(self) -> bool:
        return is_flagged(self.status)


def is_flagged(status: Status) -> bool:
    """What "flagged" means everywhere: anything the sources do not plainly support."""
    return status != "supported"


@dataclass
class SourceRef:
    n: int
    title: str
    source: str
    quote: str
    url: str = ""
    doc_id: str = ""


@dataclass
class Answer:
    question: str
    kind: Kind = "answer"
    sentences: list[Sentence] = field(default_factory=list)
    sources: list[SourceRef] = field(default_factory=list)
    message: str = ""  # for not_covered / off_topic: what to tell the learner instead
    model: str = ""
    quantization: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    review_id: int | None = None  # set when a flagged answer was queued for moderators
    question_id: int | None = None  # the stored question, which the answer's buttons name
    request_id: str = ""  # ties the answer to its log line
    model_text: str = ""  # the draft as the model wrote it, before checking

    @property
    def flagged(self) -> bool:
        return any(s.flagged for s in self.sentences)

    @property
    def arithmetic(self) -> list[Sentence]:
        return [s for s in self.sentences if s.origin == "arithmetic"]

    @property
    def from_sources(self) -> list[Sentence]:
        return [s for s in self.sentences if s.origin == "source"]

    @property
    def draft(self) -> list[Sentence]:
        return [s for s in self.sentences if s.origin == "draft"]

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.render(),
            "kind": self.kind,
            "sentences": [
                {k: v for k, v in asdict(s).items() if k != "origin"} | {"origin": s.origin}
                for s in self.sentences
            ],
            "sources": [asdict(s) for s in self.sources],
            "flagged": self.flagged,
            "model": self.model,
            "quantization": self.quantization,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "review_id": self.review_id,
            "question_id": self.question_id,
            "request_id": self.request_id,
            "model_text": self.model_text,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Answer":
        """The Answer back from `to_dict`'s form (as stored with a question or review item);
        the derived keys ("answer", "flagged") are left out, keys an older version did not
        write take their defaults."""
        return cls(
            question=data["question"],
            kind=data.get("kind", "answer"),
            sentences=[Sentence(**s) for s in data.get("sentences", [])],
            sources=[SourceRef(**s) for s in data.get("sources", [])],
            message=data.get("message", ""),
            model=data.get("model", ""),
            quantization=data.get("quantization", ""),
            timings_ms=dict(data.get("timings_ms", {})),
            review_id=data.get("review_id"),
            question_id=data.get("question_id"),
            request_id=data.get("request_id", ""),
            model_text=data.get("model_text", ""),
        )

    def render(self, with_sources: bool = True) -> str:
        """Markdown a person reads: what the sources say, the explanation, the sources."""
        if self.kind != "answer":
            return self.message
        parts = []
        if self.arithmetic:
            parts.append(
                ARITHMETIC_HEADING + "\n" + "\n".join(map(render_sentence, self.arithmetic))
            )
        if self.from_sources:
            parts.append(
                "**What the sources say**\n" + " ".join(map(render_sentence, self.from_sources))
            )
        if self.draft:
            parts.append(
                "**In plain words** (drafted by the model, checked sentence by sentence)\n"
                + " ".join(map(render_sentence, self.draft))
            )
        if with_sources and self.sources:
            parts.append("**Sources**\n" + render_sources(self.sources))
        return "\n\n".join(parts)


ARITHMETIC_HEADING = "**The arithmetic** (each input from a cited source)"


def render_sentence(sentence: Sentence) -> str:
    cites = "".join(f"[{n}]" for n in sentence.citations)
    text = f"{sentence.text} {cites}".strip() if cites else sentence.text
    if not sentence.flagged:
        return text
    return f"__{text}__ ⚠️ *{MARKERS[sentence.status]}: {sentence.reason}*"


def by_document(sources: list[SourceRef]) -> list[list[SourceRef]]:
    """Sources grouped by the document they come from, in order of first appearance: three
    chunks of one worked example are one entry quoting three lines, not one title thrice."""
    groups: dict[tuple[str, str, str], list[SourceRef]] = {}
    for ref in sources:
        groups.setdefault((ref.doc_id, ref.title, ref.source), []).append(ref)
    return list(groups.values())


def source_numbers(group: list[SourceRef]) -> str:
    return "".join(f"[{ref.n}]" for ref in group)


def render_sources(sources: list[SourceRef]) -> str:
    """One entry per document: its numbers, title and origin, then each quoted line (with
    its number where the document gives more than one)."""
    entries = []
    for group in by_document(sources):
        head = f"{source_numbers(group)} **{group[0].title}**: {group[0].source}"
        quotes = [f"> {ref.quote}" + (f" [{ref.n}]" if len(group) > 1 else "") for ref in group]
        entries.append("\n".join([head, *quotes]))
    return "\n".join(entries)
