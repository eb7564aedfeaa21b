"""What questions take for granted: how often the answer opens by saying the sources
disagree, on questions whose premise is false and on questions whose premise is true
(bench/data/premise_questions.jsonl: question, premise, truth, source, evidence).

A correction tells a learner they are wrong, so a true premise corrected is the costly
mistake: the figure to keep low. The set was written by a helper who read only the
sources' text, and the rules were never tuned on it. The draft plays no part, so the
tutor runs with a scripted model.

    HF_HUB_OFFLINE=1 python bench/premise_eval.py
"""

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tutor.runtime.fake import FakeModel  # noqa: E402
from tutor.service import TutorService  # noqa: E402
from tutor.settings import load_settings  # noqa: E402

DATA = Path(__file__).parent / "data" / "premise_questions.jsonl"
CORRECTION = "The question assumes that"


async def openings(service: TutorService, questions: list[str]) -> list[str]:
    """Each answer's correction of its question's premise, or "" where it has none (it
    opens the answer, after any note of names the sources never use)."""
    found = []
    for question in questions:
        answer = await service.ask(question)
        said = [s.text for s in answer.from_sources if s.text.startswith(CORRECTION)]
        found.append(said[0] if said else "")
    return found


def main() -> int:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    service = TutorService.start(load_settings(), progress=False, model=FakeModel())
    try:
        corrections = asyncio.run(openings(service, [r["question"] for r in rows]))
    finally:
        service.close()
    for truth in ("false", "true"):
        print(f"\npremise {truth}:")
        for row, correction in zip(rows, corrections, strict=True):
            if row["truth"] == truth and correction:
                print(f"  {row['question'][:100]}\n      -> {correction[:160]}")
    false = [c for r, c in zip(rows, corrections, strict=True) if r["truth"] == "false"]
    true = [c for r, c in zip(rows, corrections, strict=True) if r["truth"] == "true"]
    right, wrong = sum(map(bool, false)), sum(map(bool, true))
    print(f"\nfalse premises corrected: {right} of {len(false)}")
    print(f"true premises corrected (told wrongly they are wrong): {wrong} of {len(true)}")
    if right + wrong:
        print(f"precision of a correction: {right / (right + wrong):.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
