"""Which questions the tutor takes as its topic: bench/data/topic_questions.jsonl, each
labelled on topic (about quantization and the lesson) or not (cooking, football, ...);
on-topic questions that no source covers (FP6-LLM, OpenVINO, ...) say `"covered": false`.

A question is answered when the index finds sources for it; otherwise the topic test
(`KnowledgeIndex.is_on_topic`: the sources' own field terms, then nearness in meaning)
tells "not covered yet" from "off topic". Printed per split: on-topic questions wrongly
declined, off-topic questions wrongly taken, uncovered ones answered from sources anyway
(better "I could not find that" than a misleading source), and each miss. TOPIC_COSINE was chosen on
the calibration split; believe the held-out one.

    HF_HUB_OFFLINE=1 python bench/topic_eval.py
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from knowledge.index import KnowledgeIndex  # noqa: E402
from tutor.checker.labelled import split_of  # noqa: E402
from tutor.settings import load_settings  # noqa: E402

DATA = Path(__file__).parent / "data" / "topic_questions.jsonl"


def split(question: str) -> str:
    return "held-out" if split_of(question) == "held-out" else "calibration"


def main() -> None:
    settings = load_settings()
    index = KnowledgeIndex.from_settings(settings)
    index.sync(progress=False)
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    results = {"calibration": [], "held-out": []}
    started = time.perf_counter()
    for row in rows:
        question = row["question"]
        answered = bool(index.search(question, settings.top_k, settings.relevance_floor))
        taken = answered or index.is_on_topic(question)
        results[split(question)].append((row, answered, taken))
    per_question = (time.perf_counter() - started) / len(rows) * 1000
    for name, found in results.items():
        on = [r for r in found if r[0]["on_topic"]]
        off = [r for r in found if not r[0]["on_topic"]]
        declined = [r for r in on if not r[2]]
        taken = [r for r in off if r[2]]
        correct = len(found) - len(declined) - len(taken)
        uncovered = [r for r in on if r[0].get("covered") is False]
        misled = [r for r in uncovered if r[1]]
        print(f"== {name}: {len(found)} questions ({len(on)} on topic, {len(off)} off)")
        print(
            f"accuracy {correct / len(found):.3f}; on topic declined {len(declined)}/{len(on)};"
            f" off topic taken {len(taken)}/{len(off)};"
            f" on topic answered from sources {sum(r[1] for r in on)}/{len(on)},"
            f" of them not covered by any source {len(misled)}/{len(uncovered)}"
        )
        for row, answered, _ in declined + taken:
            how = "declined" if row["on_topic"] else ("answered" if answered else "not covered")
            print(f"  [{how}] {row['question']}")
        for row, _, _ in misled:
            print(f"  [answered, though no source covers it] {row['question']}")
    print(f"{per_question:.0f} ms per question (search and topic test)")


if __name__ == "__main__":
    main()
