"""Next steps that fit the detail: `quantutor steps` on the details in
bench/data/step_details.jsonl, through the service as /nextsteps calls it.

For each detail: the path that made the steps (the sources' own, the model's, or the
general cautions), whether each step names something from the detail (a shared term),
whether each step's risk is backed (it cites a source), and the time. Then how many
distinct pairs came back and the median time. Targets: for 10 details at least 8
distinct pairs, each naming the detail, risks backed, median under 5 s.

    HF_HUB_OFFLINE=1 python bench/steps_eval.py
"""

import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tutor.service import TutorService  # noqa: E402
from tutor.settings import load_settings  # noqa: E402
from tutor.steps import names_the_detail  # noqa: E402

DATA = Path(__file__).parent / "data" / "step_details.jsonl"


async def run(service: TutorService, details: list[str]) -> list[dict]:
    results = []
    for detail in details:
        started = time.perf_counter()
        proposal = await service.steps(detail)
        seconds = time.perf_counter() - started
        results.append(
            {
                "detail": detail,
                "path": proposal.path,
                "pair": tuple(s.step for s in proposal.steps),
                "named": all(names_the_detail(s, detail) for s in proposal.steps),
                "backed": all(s.citations for s in proposal.steps),
                "seconds": seconds,
                "steps": [f"{s.step} / risk: {s.risk}" for s in proposal.steps],
            }
        )
    return results


def main() -> int:
    details = [json.loads(line)["detail"] for line in DATA.read_text().splitlines() if line]
    service = TutorService.start(load_settings(), progress=False)
    try:
        results = asyncio.run(run(service, details))
    finally:
        service.close()
    for r in results:
        flags = f"{r['path']:<8} named={r['named']!s:<5} backed={r['backed']!s:<5}"
        print(f"{r['seconds']:5.2f} s  {flags}  {r['detail']}")
        for step in r["steps"]:
            print(f"          - {step}")
    distinct = len({r["pair"] for r in results})
    paths = dict(Counter(r["path"] for r in results))
    median = statistics.median(r["seconds"] for r in results)
    print(f"\n{len(results)} details: {distinct} distinct pairs; paths {paths}")
    named, backed = sum(r["named"] for r in results), sum(r["backed"] for r in results)
    print(f"naming the detail {named}, risks backed {backed}; median {median:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
