"""Two possible next steps from one detail of the lesson, each with one reason it might be wrong.

A 135M model does not always follow a format, so its output is parsed strictly, retried
once with a tighter prompt, and replaced by steps composed from the sources when both
fail: the learner always gets exactly two steps, each with its risk, and is told which
path produced them.
"""

import re
from dataclasses import asdict, dataclass, field
from typing import Literal

from tutor.answer import SourceRef, render_source

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

# The sources' own cautions, used when the model's steps cannot be parsed. Each pairs a
# next step with the evidence against over-trusting it; `doc` names the backing source.
FALLBACK_STEPS = (
    (
        "Quantize your model to int8 and re-run your own evaluation on your workload.",
        "int8 is typically, not always, lossless: Kurtic et al. measured a 1-3% drop, "
        "so only your own evaluation shows what it costs you.",
        "kurtic-bf16-or-death.md",
    ),
    (
        "Try 4-bit (NF4) for chat, classification or simple generation, and compare it "
        "with the full-precision answers.",
        "int4 hits quality cliffs on hard tasks such as reasoning and long context, and "
        "cheap metrics like perplexity can hide the drop.",
        "lesson-what-ai-cannot-do.md",
    ),
    (
        "Check the detail against the original paper or document before relying on it.",
        "A summary can be out of date or too broad; the original's setting (model size, "
        "task, hardware) may not match yours.",
        "lesson-verify-ai-answer.md",
    ),
)


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

    A caution whose source was not retrieved gets it added (via `source_for(doc_id, n)`),
    so every step is cited.
    """
    numbers = {ref.doc_id: ref.n for ref in sources}
    chosen = sorted(FALLBACK_STEPS, key=lambda caution: caution[2] not in numbers)[:2]
    proposed = []
    for step, risk, doc_id in chosen:
        if doc_id not in numbers:
            sources.append(source_for(doc_id, len(sources) + 1))
            numbers[doc_id] = len(sources)
        proposed.append(Step(step, risk, [numbers[doc_id]]))
    return proposed
