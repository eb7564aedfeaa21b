"""Memory and speed of the configured model at each precision (bf16, int8, nf4).

Each precision is loaded in a fresh process and measured by the lab's own functions
(tutor/lab/): weight footprint, peak memory, load time, prefill of a 300-token
prompt and decode speed (medians of 3 runs). Ends with a Markdown table and the
project's targets: nf4 weights at most 45% of bf16's, nf4 decoding at least as fast.

    HF_HUB_OFFLINE=1 python bench/model_bench.py [--model ID_OR_FOLDER] [--precisions ...]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tutor.lab.isolated import measure_isolated  # noqa: E402
from tutor.lab.report import LABELS, PRECISIONS, LabReport  # noqa: E402
from tutor.lab.run import project_version  # noqa: E402
from tutor.logs import configure_logging  # noqa: E402
from tutor.runtime.packaged import display_name  # noqa: E402
from tutor.settings import load_settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a hub id or model folder (default: QUANTUTOR_MODEL)")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    args = parser.parse_args(argv)
    configure_logging()
    settings = load_settings(**({"model": args.model} if args.model else {}))
    model = display_name(settings.model)
    print(f"{model}: each precision in a fresh process", flush=True)
    results = []
    for precision in args.precisions:
        result = measure_isolated(settings, precision, quality=False)
        print(
            f"  {LABELS[precision]:>5}: {result.footprint_mb:.0f} MB of weights, "
            f"peak {result.peak_rss_mb:.0f} MB, loaded in {result.load_s:.1f} s, "
            f"prefill {result.prefill_s:.2f} s, decode {result.decode_tokens_per_s:.1f} tok/s",
            flush=True,
        )
        results.append(result)
    report = LabReport(model, project_version(), results)
    print()
    print(report.render_table(quality=False))
    if report.targets():
        print("\nTargets:\n" + report.render_targets())
    return 0


if __name__ == "__main__":
    sys.exit(main())
