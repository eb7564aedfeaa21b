"""Two possible next steps from one detail of the lesson, each with one reason it might be wrong.

A 135M model does not always follow a format, so its output is parsed strictly, retried
once with a tighter prompt, and replaced by steps composed from the sources when both
fail: the learner always gets exactly two steps, each with its risk, and is told which
path produced them.
"""

import re
from dataclasses import asdict, dataclass, field
from typing import ClassVar, Literal

from tutor.answer import SourceRef, render_source
from tutor.curated import DATA_DIR, Entry, SourceDoc, Text, load_table

Path = Literal["model", "model-retry", "sources"]

STEP_PROMPTS = (
    (
        "You help a learner of AI model quantization. Given one detail from the lesson, "
        "propose exactly two possible next steps, each with one reason it might be wrong. "
        "Use the sources. Answer in exactly this format:\n"
        "Step 1: <step>\nRisk 1: <why it might be wrong>\n"
        "Step 2: <step>\nRisk 2: <why it might be wrong>"
    ),
    (
        "Reply with exactly four lines and nothing else:\n"
        "Step 1: ...\nRisk 1: ...\nStep 2: ...\nRisk 2: ...\n"
        "Each step is one thing to try about the detail; each risk is one reason it could fail."
    ),
)

# "Step 1: ...", "**Risk 2** - ...", "1. Step 1) ...": the label, its number, the content.
_LINE = re.compile(
    r"^\W*(?:\d+[.)]\s*)?\W*(step|risk)\s*([12])\s*[*:.)\s-]*[:.)-][*\s]*(.+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)


class FallbackStep(Entry):
    """One of the sources' own cautions (tutor/data/fallback_steps.yaml), used when the
    model's steps cannot be parsed: a next step, one reason it might be wrong, and the
    source backing that reason."""

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
            "model": "proposed by the model from the sources",
            "model-retry": "proposed by the model on a second, stricter try",
            "sources": "composed from the sources (the model's reply did not follow the format)",
        }[self.path]
        lines = [f"**Two possible next steps** ({origin})"]
        for number, step in enumerate(self.steps, start=1):
            cites = "".join(f"[{n}]" for n in step.citations)
            lines.append(f"{number}. {step.step} {cites}".rstrip())
            lines.append(f"   ⚠️ *Might be wrong because:* {step.risk}")
        if self.sources:
            lines.append("\n**Sources**\n" + "\n".join(map(render_source, self.sources)))
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

    A caution whose source was not retrieved gets it added (via `source_for(doc_id, n)`,
    which gives None for a document the index lacks: that caution is passed over), so
    every step is cited.
    """
    numbers = {ref.doc_id: ref.n for ref in sources}
    proposed = []
    for caution in sorted(FALLBACK_STEPS, key=lambda caution: caution.doc_id not in numbers):
        if caution.doc_id not in numbers:
            added = source_for(caution.doc_id, len(sources) + 1)
            if added is None:
                continue
            sources.append(added)
            numbers[caution.doc_id] = added.n
        proposed.append(Step(caution.step, caution.risk, [numbers[caution.doc_id]]))
        if len(proposed) == 2:
            break
    return proposed
