"""The lab's results and how they read: a table, the targets, Markdown and JSON files."""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tutor.runtime.packaged import PACKAGED_NAME
from tutor.settings import Settings

PRECISIONS = ("none", "int8", "nf4")  # bitsandbytes, in transformers


LLAMACPP = "llamacpp"  # the packaged GGUF's own Q4_1, in llama.cpp


MEASURABLE = (*PRECISIONS, LLAMACPP)  # each in a process of its own


SERVER = "server"  # the configured model server (QUANTUTOR_RUNTIME=server), measured remotely


LABELS = {
    "none": "bf16",
    "int8": "int8",
    "nf4": "nf4",
    LLAMACPP: "Q4_1 llama.cpp",
    SERVER: "model server",
}


FOOTPRINT_TARGET = 0.45  # nf4 weights at most this share of bf16's


@dataclass(frozen=True)
class LabSetup:
    """How much each measurement reads and runs. The defaults are the lab's; smaller
    setups make quick checks (tests) and larger models on slow machines affordable."""

    eval_tokens: int = 4096
    window: int = 1024  # tokens of context per forward pass over the evaluation text
    stride: int = 512  # new tokens scored per window: each sees window - stride or more
    top_k: int = 64  # bf16's top tokens kept per position for the KL divergence
    prompt_tokens: int = 300
    new_tokens: int = 32
    speed_runs: int = 3
    # torch threads per measuring process. One: on a shared CPU a second thread that waits
    # at every op for a busy core made decoding here 5-20x slower. Raise it on cores you own.
    threads: int = 1


@dataclass(frozen=True)
class PrecisionResult:
    precision: str
    footprint_mb: float | None  # weights and buffers: model.get_memory_footprint()
    peak_rss_mb: float | None  # the measuring process's peak (None: the model server's)
    load_s: float
    prefill_s: float  # a prompt of setup.prompt_tokens, median of setup.speed_runs
    decode_tokens_per_s: float  # median of setup.speed_runs
    eval_tokens: int | None = None
    perplexity: float | None = None
    kl_divergence: float | None = None  # mean per token, from bf16's distribution
    top1_agreement: float | None = None  # share of positions whose top token is bf16's
    quiz_correct: int | None = None
    quiz_total: int | None = None
    answer_recall: float | None = None  # key-fact recall on the answer benchmark
    draft_recall: float | None = None  # the same, in the model's own draft only

    @property
    def label(self) -> str:
        return LABELS[self.precision]


@dataclass(frozen=True)
class Target:
    goal: str
    passed: bool
    measured: str


@dataclass
class LabReport:
    model: str
    version: str
    results: list[PrecisionResult]
    setup: LabSetup = LabSetup()
    notes: list[str] = field(default_factory=list)  # what was not measured, and why
    evaluation_documents: list[str] = field(default_factory=list)  # the perplexity text's
    quiz_bank: str = ""

    def result(self, precision: str) -> PrecisionResult | None:
        return next((r for r in self.results if r.precision == precision), None)

    def targets(self) -> list[Target]:
        """The project's targets for nf4 against bf16; none when either was not measured."""
        bf16, nf4 = self.result("none"), self.result("nf4")
        if bf16 is None or nf4 is None:
            return []
        share = nf4.footprint_mb / bf16.footprint_mb
        speedup = nf4.decode_tokens_per_s / bf16.decode_tokens_per_s
        return [
            Target(
                f"nf4 weights at most {FOOTPRINT_TARGET:.0%} of bf16's",
                share <= FOOTPRINT_TARGET,
                f"{share:.0%}",
            ),
            Target("nf4 decodes at least as fast as bf16", speedup >= 1.0, f"{speedup:.2f}x"),
        ]

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "version": self.version,
            "setup": asdict(self.setup),
            "evaluation_documents": self.evaluation_documents,
            "quiz_bank": self.quiz_bank,
            "results": [asdict(result) for result in self.results],
            "targets": [asdict(target) for target in self.targets()],
            "notes": self.notes,
        }

    def render_table(self, quality: bool = True) -> str:
        """A Markdown table, one row per precision; `quality=False` leaves out quality columns."""
        columns = _cost_columns(self.setup) + (_QUALITY_COLUMNS if quality else [])
        header = "| " + " | ".join(title for title, _ in columns) + " |"
        rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|"
        rows = ["| " + " | ".join(cell(r) for _, cell in columns) + " |" for r in self.results]
        return "\n".join([header, rule, *rows])

    def render_targets(self) -> str:
        """The targets met or missed, then what was not measured and why."""
        lines = [
            f"- {'PASS' if t.passed else 'FAIL'}: {t.goal} (measured {t.measured})"
            for t in self.targets()
        ]
        return "\n".join(lines + [f"- {note}" for note in self.notes])

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    def write_markdown(self, path: Path) -> None:
        setup = self.setup
        tokens = next((r.eval_tokens for r in self.results if r.eval_tokens), None)
        notes = [
            f"Each precision measured in a fresh process (quantutor {self.version}). "
            f"Prefill: a {setup.prompt_tokens}-token prompt; decode: {setup.new_tokens} "
            f"greedy tokens; medians of {setup.speed_runs} runs; {setup.threads} torch "
            "thread(s). Peak RSS includes Python and torch; for int8 and nf4, which are "
            "quantized while loading, it varied by a few hundred MB from run to run here.",
        ]
        if tokens:
            notes.append(
                f"Perplexity, KL and top-1 agreement: {tokens} tokens of "
                f"{len(self.evaluation_documents)} knowledge-base documents, scored in windows of "
                f"{setup.window} tokens sliding by {setup.stride}. KL is measured from bf16's "
                f"top {setup.top_k} tokens plus the rest of its probability mass as one bucket "
                "(a slight underestimate). Quiz: each option scored by the model's mean "
                "log-likelihood. The bf16 model is the packaged Q4_1 GGUF widened, so llama.cpp "
                "runs those very weights and nf4 quantizes them a second time."
                if self.model == PACKAGED_NAME
                else "(a slight underestimate). Quiz: each option scored by the model's mean "
                "log-likelihood."
            )
        if any(r.answer_recall is not None for r in self.results):
            notes.append(
                "Answer recall: the key fact anywhere in the tutor's answer (sources' "
                "sentences and draft); draft recall: in the model's own draft only."
            )
        parts = [f"# Quantization lab: {self.model}", self.render_table(), " ".join(notes)]
        if self.targets() or self.notes:
            parts.append("Targets and notes:\n\n" + self.render_targets())
        path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")


def _fmt(value, pattern: str) -> str:
    return "–" if value is None else format(value, pattern)


def _quiz_cell(r: PrecisionResult) -> str:
    return "–" if r.quiz_total is None else f"{r.quiz_correct}/{r.quiz_total}"


def _cost_columns(setup: LabSetup) -> list:
    return [
        ("Precision", lambda r: r.label),
        ("Weights (MB)", lambda r: _fmt(r.footprint_mb, ".0f")),
        ("Peak RSS (MB)", lambda r: _fmt(r.peak_rss_mb, ".0f")),
        ("Load (s)", lambda r: _fmt(r.load_s, ".1f")),
        (f"Prefill {setup.prompt_tokens} tok (s)", lambda r: _fmt(r.prefill_s, ".2f")),
        ("Decode (tok/s)", lambda r: _fmt(r.decode_tokens_per_s, ".1f")),
    ]


_QUALITY_COLUMNS = [
    ("Perplexity", lambda r: _fmt(r.perplexity, ".2f")),
    ("KL vs bf16", lambda r: _fmt(r.kl_divergence, ".4f")),
    ("Top-1 = bf16", lambda r: _fmt(r.top1_agreement, ".1%")),
    ("Quiz", _quiz_cell),
    ("Answer recall", lambda r: _fmt(r.answer_recall, ".0%")),
    ("Draft recall", lambda r: _fmt(r.draft_recall, ".0%")),
]


def lab_files(settings: Settings) -> tuple[Path, Path, Path]:
    """Where the latest report is written: chart (PNG), Markdown and JSON."""
    folder = settings.data_dir / "lab"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "lab.png", folder / "lab.md", folder / "lab.json"
