"""Collect the sentences the model actually writes, for labelling by hand.

Sends each question of a questions file (JSONL: question, kind, mode) through the tutor
at the configured runtime and precision, exactly as `ask` does, and writes one JSON
line per draft sentence: its question, kind and mode, the runtime, the sentence, and
the retrieved source chunks it was drafted from (what a labeller reads). The verifier's
own verdict is left out so that it cannot sway the label. Sentences already in the
output file (same runtime and text) are skipped, so the file grows run by run.

    HF_HUB_OFFLINE=1 python bench/collect_drafts.py bench/data/draft_questions.jsonl \
        bench/data/drafts_unlabelled.jsonl   (QUANTUTOR_RUNTIME / _QUANTIZATION apply)
"""

import argparse
import asyncio
import hashlib
import json
import sys
from pathlib import Path

from tqdm import tqdm

from tutor.logs import configure_logging
from tutor.service import TutorService
from tutor.settings import load_settings


def sentence_id(runtime: str, question: str, text: str) -> str:
    return hashlib.sha1(f"{runtime}\n{question}\n{text}".encode()).hexdigest()[:12]


async def collect(service: TutorService, questions: list[dict], seen: set[str]):
    runtime = f"{service.settings.runtime}:{service.quantization}"
    for row in tqdm(questions, unit="question", file=sys.stderr):
        answer = await service.ask(row["question"], mode=row.get("mode", "answer"))
        hits = service.index.search(
            answer.question, service.settings.top_k, service.settings.relevance_floor
        )
        sources = [
            {"n": n, "doc_id": hit.chunk.doc_id, "text": hit.chunk.text}
            for n, hit in enumerate(hits, start=1)
        ]
        for sentence in answer.draft:
            key = sentence_id(runtime, answer.question, sentence.text)
            if key in seen:
                continue
            seen.add(key)
            yield {
                "id": key,
                "question": answer.question,
                "kind": row.get("kind", ""),
                "mode": row.get("mode", "answer"),
                "runtime": runtime,
                "sentence": sentence.text,
                "sources": sources,
            }


async def main_async(args) -> int:
    questions = [json.loads(line) for line in Path(args.questions).read_text().splitlines()]
    out = Path(args.output)
    seen = set()
    if out.is_file():
        seen = {json.loads(line)["id"] for line in out.read_text().splitlines() if line.strip()}
    service = TutorService.start(load_settings(), progress=False)
    written = 0
    try:
        with out.open("a", encoding="utf-8") as sink:
            async for record in collect(service, questions, seen):
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
    finally:
        service.close()
    print(f"{written} new draft sentences written to {out}", file=sys.stderr)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions")
    parser.add_argument("output")
    configure_logging()
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
