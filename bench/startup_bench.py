"""Start-up: how long the tutor takes to be ready with a warm cache, phase by phase.

Starts TutorService in a fresh interpreter several times (the model already converted,
the index already built, as on every start but the first) and prints the median seconds
of each phase: index check, store, model load, verifier (embedding the sources'
sentences). The bot adds Discord's login and connection, which it logs when ready.
Target: ready within 15 s.

Usage: HF_HUB_OFFLINE=1 python bench/startup_bench.py [--runs 3] (QUANTUTOR_* apply)
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

from tutor.logs import describe_phases

CHILD = """
import json, time
started = time.perf_counter()
from tutor.service import TutorService
from tutor.settings import load_settings
imported = time.perf_counter() - started
service = TutorService.start(load_settings(), progress=False)
print(json.dumps({"imports": imported, **service.startup_s}))
service.close()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-c", CHILD], check=True, capture_output=True)  # warm
    runs = []
    for _ in range(args.runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD], check=True, capture_output=True)
        phases = json.loads(done.stdout.splitlines()[-1])
        runs.append({"process": time.perf_counter() - started, **phases})
    medians = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    phases = {name: s for name, s in medians.items() if name != "process"}
    print(f"median of {args.runs} starts: {describe_phases(phases)}")
    print(
        f"ready in {sum(phases.values()):.1f} s (target <= 15 s); the whole process, "
        f"interpreter start and shutdown included, {medians['process']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
