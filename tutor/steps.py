"""Two possible next steps from one detail of the lesson, each with one reason it might be wrong.

Every source document carries its own two next steps, each with a risk its text states
(front matter `next_steps`, curated with the document). The steps offered are the two of
the retrieved documents' that fit the detail best, each citing its document. Only where
the sources give none (a detail nothing covers, a moderator's correction) is the model
asked, once; its steps count only if they parse and their risks pass the verifier; the
general cautions (tutor/data/fallback_steps.yaml) fill whatever is still missing.
The learner always gets two steps and is told the path.
"""

import re
from dataclasses import asdict, dataclass, field
from typing import ClassVar, Literal

import numpy as np

from knowledge.documents import Document
from knowledge.embeddings import embed, embed_query
from knowledge.terms import search_terms
from tutor.answer import SourceRef, render_sources
from tutor.curated import DATA_DIR, Entry, SourceDoc, Text, load_table

Path = Literal["sources", "model", "general"]
STEP_DOCUMENTS = 3  # the best-retrieved documents whose own steps are considered
SHARED_TERM_BONUS = 0.1  # a step naming a term of the detail fits it better

STEP_PROMPT = (
    "You help a learner of AI model quantization. Given one detail from the lesson, "
    "propose exactly two possible next steps, each with one reason it might be wrong. "
    "Use the sources. Answer in exactly this format:\n"
    "Step 1: <step>\nRisk 1: <why it might be wrong>\n"
    "Step 2: <step>\nRisk 2: <why it might be wrong>"
)

# "Step 1: ...", "**Risk 2** - ...", "1. Step 1) ...": the label, its number, the content.
_LINE = re.compile(
    r"^\W*(?:\d+[.)]\s*)?\W*(step|risk)\s*([12])\s*[*:.)\s-]*[:.)-][*\s]*(.+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)


class FallbackStep(Entry):
    """A general caution (tutor/data/fallback_steps.yaml), used when neither the sources'
    own steps nor the model's fit the detail: a next step, one reason it might be wrong,
    and the source backing that reason."""

    table: ClassVar[str] = "fallback_steps"
    key: ClassVar[str] = "step"
    min_entries: ClassVar[int] = 2  # the learner always gets two steps

    step: Text
    risk: Text
    doc_id: SourceDoc


FALLBACK_STEPS_FILE = DATA_DIR / "fallback_steps.yaml"
FALLBACK_STEPS = load_table(FALLBACK_STEPS_FILE, FallbackStep)  # once, at import


@dataclass
class Step:
    step: str
    risk: str
    citations: list[int] = field(default_factory=list)


@dataclass
class NextSteps:
    detail: str
    steps: list[Step]
    path: Path
    sources: list[SourceRef]

    def to_dict(self) -> dict:
        return {
            "detail": self.detail,
            "steps": [asdict(s) for s in self.steps],
            "path": self.path,
            "sources": [asdict(s) for s in self.sources],
        }

    def render(self) -> str:
        origin = {
            "sources": "from the sources on this detail, each risk checked against its source",
            "model": "proposed by the model from the sources, each risk checked against them",
            "general": "general cautions: the sources give no steps specific to this detail",
        }[self.path]
        lines = [f"**Two possible next steps** ({origin})"]
        for number, step in enumerate(self.steps, start=1):
            cites = "".join(f"[{n}]" for n in step.citations)
            lines.append(f"{number}. {step.step} {cites}".rstrip())
            lines.append(f"   ⚠️ *Might be wrong because:* {step.risk}")
        if self.sources:
            lines.append("\n**Sources**\n" + render_sources(self.sources))
        return "\n".join(lines)


def parse_steps(text: str) -> list[Step] | None:
    """Exactly two steps with a risk each, or None: a half-followed format is not accepted."""
    found: dict[tuple[str, str], str] = {}
    for kind, number, content in _LINE.findall(text):
        key = (kind.lower(), number)
        if key in found or len(content) < 8:
            return None
        found[key] = content.strip()
    if set(found) != {("step", "1"), ("risk", "1"), ("step", "2"), ("risk", "2")}:
        return None
    if found[("step", "1")].lower() == found[("step", "2")].lower():
        return None
    return [Step(found[("step", n)], found[("risk", n)]) for n in ("1", "2")]


def fallback_steps(sources: list[SourceRef], source_for) -> list[Step]:
    """Two steps from the curated cautions, preferring those whose source was retrieved.

    A caution whose source was not retrieved gets it added (via `source_for(doc_id, n,
    risk)`, which gives None for a document the index lacks: that caution is passed over),
    so every step is cited.
    """
    numbers = {ref.doc_id: ref.n for ref in sources}
    proposed = []
    for caution in sorted(FALLBACK_STEPS, key=lambda caution: caution.doc_id not in numbers):
        if caution.doc_id not in numbers:
            added = source_for(caution.doc_id, len(sources) + 1, caution.risk)
            if added is None:
                continue
            sources.append(added)
            numbers[caution.doc_id] = added.n
        proposed.append(Step(caution.step, caution.risk, [numbers[caution.doc_id]]))
        if len(proposed) == 2:
            break
    return proposed


@dataclass(frozen=True)
class Candidate:
    """One of a document's own next steps, and the source number its risk is cited by."""

    step: str
    risk: str
    doc: Document
    n: int


def document_candidates(hits, sources: list[SourceRef], document_of) -> list[Candidate]:
    """The own next steps of the best-retrieved documents (`document_of(doc_id)` gives
    a Document or None), each with the number of its document among the sources."""
    numbers: dict[str, int] = {}
    for ref in sources:
        numbers.setdefault(ref.doc_id, ref.n)
    candidates = []
    for doc_id in list(numbers)[:STEP_DOCUMENTS]:
        doc = document_of(doc_id)
        for own in doc.next_steps if doc else ():
            candidates.append(Candidate(own.step, own.risk, doc, numbers[doc_id]))
    return candidates


def best_fitting(detail: str, candidates: list[Candidate]) -> list[Candidate]:
    """The candidates by how well they fit the detail: meaning, and terms they share."""
    if not candidates:
        return []
    meaning = embed([f"{c.step} {c.risk}" for c in candidates]) @ np.asarray(embed_query(detail))
    terms = set(search_terms(detail))
    scores = [
        float(m) + SHARED_TERM_BONUS * bool(terms & set(search_terms(c.step)))
        for m, c in zip(meaning, candidates, strict=True)
    ]
    order = sorted(range(len(candidates)), key=lambda i: scores[i], reverse=True)
    return [candidates[i] for i in order]


def names_the_detail(step: Step, detail: str) -> bool:
    """Whether a step speaks of the detail: it shares one of its terms."""
    return bool(set(search_terms(detail)) & set(search_terms(f"{step.step} {step.risk}")))
