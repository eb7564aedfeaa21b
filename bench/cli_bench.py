"""Light commands: wall time and peak memory of the `quantutor` commands that need no model.

Runs each command in a fresh process under /usr/bin/time several times and prints the
median wall seconds and peak RSS, and whether torch, transformers, chromadb or
bitsandbytes were imported (they must not be). Targets: `--help` and `health` under
0.5 s and 80 MB.

Usage: HF_HUB_OFFLINE=1 python bench/cli_bench.py [--runs 5] (QUANTUTOR_* apply)
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HEAVY = ("torch", "transformers", "chromadb", "bitsandbytes")
COMMANDS = (
    ("--help",),
    ("health",),
    ("quiz", "--export-json"),
    ("discord", "--check"),
    ("review", "list"),
    ("export-user", "console"),
)
TARGETS = {"--help": (0.5, 80.0), "health": (0.5, 80.0)}  # seconds, MB
# Run the command line as the installed script does, then say which heavy modules loaded.
PROBE = (
    "import sys, runpy; sys.argv = ['quantutor', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('cli', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
)


def measure(command: tuple[str, ...], env: dict) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, heavy modules imported) of one fresh run."""
    with tempfile.NamedTemporaryFile("r") as timing:
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", "-o", timing.name, sys.executable, "-c", PROBE]
            + list(command),
            env=env,
            capture_output=True,
            text=True,
        )
        seconds, kib = timing.read().split()[-2:]
    heavy = next((line[6:] for line in done.stderr.splitlines() if line.startswith("HEAVY:")), "?")
    return float(seconds), int(kib) / 1024, heavy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.setdefault("QUANTUTOR_DATA_DIR", tempfile.mkdtemp(prefix="quantutor-cli-bench-"))
    print(f"{'command':<24} {'median s':>9} {'peak MB':>8}  heavy imports  target")
    failed = False
    for command in COMMANDS:
        runs = [measure(command, env) for _ in range(args.runs)]
        seconds = statistics.median(r[0] for r in runs)
        megabytes = statistics.median(r[1] for r in runs)
        heavy = runs[-1][2] or "none"
        goal = TARGETS.get(command[0])
        verdict = ""
        if goal:
            met = seconds < goal[0] and megabytes < goal[1]
            failed |= not met
            verdict = f"{'PASS' if met else 'FAIL'} (< {goal[0]} s, < {goal[1]:.0f} MB)"
        failed |= heavy != "none"
        name = " ".join(command)
        print(f"{name:<24} {seconds:>9.2f} {megabytes:>8.0f}  {heavy:<13}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
