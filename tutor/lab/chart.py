"""The lab's chart: what each precision saves (top row) and what it may cost (bottom row)."""

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tutor.lab.report import LLAMACPP, SERVER, LabReport, PrecisionResult, _quiz_cell

COLOURS = {
    "none": "#4C72B0",
    "int8": "#55A868",
    "nf4": "#DD8452",
    LLAMACPP: "#8172B3",
    SERVER: "#937860",
}


@dataclass(frozen=True)
class _Panel:
    title: str  # may name LabSetup fields: {prompt_tokens}
    better: str  # "lower" or "higher"
    value: Callable[[PrecisionResult], float | None]
    label: Callable[[PrecisionResult], str]
    ceiling: Callable[[PrecisionResult], float] | None = None  # the axis top, when fixed


_SAVES = [
    _Panel(
        "Weights in memory (MB)",
        "lower",
        lambda r: r.footprint_mb,
        lambda r: f"{r.footprint_mb:.0f}",
    ),
    _Panel(
        "Peak process memory (MB), loading included",
        "lower",
        lambda r: r.peak_rss_mb,
        lambda r: f"{r.peak_rss_mb:.0f}",
    ),
    _Panel(
        "Decode speed (tokens/s)",
        "higher",
        lambda r: r.decode_tokens_per_s,
        lambda r: f"{r.decode_tokens_per_s:.1f}",
    ),
    _Panel(
        "Prefill of a {prompt_tokens}-token prompt (s)",
        "lower",
        lambda r: r.prefill_s,
        lambda r: f"{r.prefill_s:.2f}",
    ),
]


_COSTS = [
    _Panel(
        "Perplexity on the evaluation text",
        "lower",
        lambda r: r.perplexity,
        lambda r: f"{r.perplexity:.2f}",
    ),
    _Panel(
        "KL divergence from bf16",
        "lower",
        lambda r: r.kl_divergence,
        lambda r: f"{r.kl_divergence:.4f}",
    ),
    _Panel(
        "Top token same as bf16's (%)",
        "higher",
        lambda r: None if r.top1_agreement is None else 100 * r.top1_agreement,
        lambda r: f"{100 * r.top1_agreement:.1f}%",
        ceiling=lambda r: 100,
    ),
    _Panel(
        "Lesson quiz answered by the model",
        "higher",
        lambda r: r.quiz_correct,
        _quiz_cell,
        ceiling=lambda r: r.quiz_total,
    ),
    _Panel(
        "Key fact in the model's own draft (%)",
        "higher",
        lambda r: None if r.draft_recall is None else 100 * r.draft_recall,
        lambda r: f"{100 * r.draft_recall:.0f}%",
        ceiling=lambda r: 100,
    ),
]


def draw_chart(report: LabReport, path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    columns = max(len(_SAVES), len(_COSTS))
    figure = Figure(figsize=(4 * columns, 8.5), layout="constrained")
    figure.suptitle(
        f"Quantization lab: {report.model}\n"
        "top: what quantization saves; bottom: what it may cost in quality",
        fontsize=14,
        fontweight="bold",
    )
    for row, panels in zip(figure.subplots(2, columns), (_SAVES, _COSTS), strict=True):
        for ax, panel in zip(row, panels):
            _draw_panel(ax, report, panel)
        for ax in row[len(panels) :]:
            ax.set_visible(False)
    figure.savefig(path, dpi=100)


def _draw_panel(ax, report: LabReport, panel: _Panel) -> None:
    title = panel.title.format(**asdict(report.setup))
    ax.set_title(f"{title}\n({panel.better} is better)", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    shown = [r for r in report.results if panel.value(r) is not None]
    if not shown:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    heights = [panel.value(r) for r in shown]
    bars = ax.bar([r.label for r in shown], heights, color=[COLOURS[r.precision] for r in shown])
    ax.bar_label(bars, labels=[panel.label(r) for r in shown], padding=3, fontsize=11)
    top = panel.ceiling(shown[0]) if panel.ceiling else max(heights)
    ax.set_ylim(0, 1.15 * top if top > 0 else 1)
