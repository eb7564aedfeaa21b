"""The lab: quantize, then re-evaluate per workload.

Each precision (none = bf16, int8, nf4) of the configured model is loaded in a fresh
process, so that its load time and peak memory are its own, and measured for what
quantization saves (weight footprint, peak memory, load, prefill and decode time) and
what it may cost: perplexity on a fixed text from the knowledge base, how far its
next-token distribution drifts from bf16's (KL divergence, top-token agreement, as
llama.cpp reports them), and the lesson quiz answered by the model itself.
"""

import hashlib
import importlib.metadata
import json
import math
import multiprocessing
import queue
import re
import resource
import signal
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from tqdm import tqdm
from transformers.generation.streamers import BaseStreamer

from knowledge.documents import PACKAGED_SOURCES, Document, load_documents
from quiz.bank import load_bank
from tutor import llamacpp
from tutor.evaluation import ask_all, key_fact_drafted, key_fact_found, load_questions
from tutor.llamacpp import LlamaCppModel, load_llamacpp
from tutor.model import PACKAGED_NAME, LoadedModel, load_model
from tutor.settings import PACKAGED_MODEL, Settings

PRECISIONS = ("none", "int8", "nf4")  # bitsandbytes, in transformers
LLAMACPP = "llamacpp"  # the packaged GGUF's own Q4_1, in llama.cpp
MEASURABLE = (*PRECISIONS, LLAMACPP)
LABELS = {"none": "bf16", "int8": "int8", "nf4": "nf4", LLAMACPP: "Q4_1 llama.cpp"}
COLOURS = {"none": "#4C72B0", "int8": "#55A868", "nf4": "#DD8452", LLAMACPP: "#8172B3"}

# The evaluation text: these knowledge-base documents, in name order, cut at eval_tokens.
# A fixed list, so that adding a source does not move every figure.
EVAL_DOCUMENTS = (
    "awq.md",
    "bytes-per-weight.md",
    "gptq.md",
    "llm-int8-outliers.md",
    "memory-bandwidth-decoding.md",
    "perplexity-and-kld.md",
    "qlora-nf4-double-quant.md",
    "rtn-vs-calibration.md",
    "smoothquant.md",
    "weight-only-vs-w8a8.md",
)
QUIZ_BANK = "lesson"
ANSWER_QUESTIONS = 12  # the answer benchmark's first questions, asked at each precision

FOOTPRINT_TARGET = 0.45  # nf4 weights at most this share of bf16's


class LabError(Exception):
    """A measurement could not be made; the message says which and why."""


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


# -- results ------------------------------------------------------------------------


@dataclass(frozen=True)
class PrecisionResult:
    precision: str
    footprint_mb: float  # weights and buffers: model.get_memory_footprint()
    peak_rss_mb: float  # the measuring process's peak, after loading and generating
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
            "evaluation_documents": [doc.doc_id for doc in eval_documents()],
            "quiz_bank": QUIZ_BANK,
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
                f"{len(eval_documents())} knowledge-base documents, scored in windows of "
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

    def write_chart(self, path: Path) -> None:
        """A PNG: what each precision saves (top row) and what it may cost (bottom row)."""
        _draw_chart(self, path)


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


# -- the evaluation text --------------------------------------------------------------


def eval_documents() -> list[Document]:
    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    chosen = [doc for doc in documents if doc.doc_id in EVAL_DOCUMENTS]
    if not chosen:
        raise LabError(f"none of the evaluation documents is in {PACKAGED_SOURCES}")
    return chosen


def eval_text() -> str:
    return "\n\n".join(doc.body for doc in eval_documents())


def eval_ids(tokenizer, setup: LabSetup = LabSetup()) -> torch.Tensor:
    """The evaluation text's first setup.eval_tokens token ids, shape (1, n)."""
    return tokenizer(eval_text(), return_tensors="pt").input_ids[:, : setup.eval_tokens]


def eval_digest(setup: LabSetup) -> str:
    """Changes whenever the measurements would: the evaluation text or the setup."""
    text = json.dumps(asdict(setup), sort_keys=True) + "\n" + eval_text()
    return hashlib.sha256(text.encode()).hexdigest()


# -- quality: perplexity, KL divergence, top-1 agreement -----------------------------


@dataclass(frozen=True)
class TopK:
    """A model's top-k next-token log-probabilities at every scored position."""

    log_probs: torch.Tensor  # (positions, k) float32
    indices: torch.Tensor  # (positions, k) int64


@dataclass(frozen=True)
class TextScore:
    perplexity: float
    top_k: TopK
    kl_divergence: float | None = None
    top1_agreement: float | None = None


def score_text(
    model: LoadedModel | LlamaCppModel,
    ids: torch.Tensor,
    reference: TopK | None = None,
    setup: LabSetup = LabSetup(),
) -> TextScore:
    """Perplexity of `ids` and, given a reference's top-k, KL from it and top-1 agreement.

    One pass over the text serves all three, and its own top-k becomes the
    reference for the other precisions.
    """
    window = min(setup.window, model.context_length)
    stride = min(setup.stride, window)
    nll, kl, agreeing, scored = 0.0, 0.0, 0, 0
    top_log_probs, top_indices = [], []
    for log_probs, targets in _scored_windows(model, ids, window, stride):
        top = log_probs.topk(min(setup.top_k, log_probs.shape[-1]), dim=-1)
        nll -= log_probs.gather(1, targets[:, None]).sum().item()
        if reference is not None:
            span = slice(scored, scored + len(targets))
            ref = TopK(reference.log_probs[span], reference.indices[span])
            kl += bucketed_kl(ref, log_probs).sum().item()
            agreeing += (top.indices[:, 0] == ref.indices[:, 0]).sum().item()
        top_log_probs.append(top.values)
        top_indices.append(top.indices)
        scored += len(targets)
    if reference is not None and scored != len(reference.log_probs):
        raise LabError("the bf16 reference was made from a different evaluation text")
    own = TopK(torch.cat(top_log_probs), torch.cat(top_indices))
    perplexity = math.exp(nll / scored)
    if reference is None:
        return TextScore(perplexity, own)
    return TextScore(perplexity, own, kl / scored, agreeing / scored)


def _scored_windows(model, ids: torch.Tensor, window: int, stride: int):
    """(log-probs, target ids) for the positions each window scores; each token once.

    The first window scores all its tokens; each later one slides by `stride` and
    scores only its new tokens, which all see at least window - stride of context.
    """
    length = ids.shape[1]
    end, scored_until = min(window, length), 1  # the first token has nothing to predict it
    while scored_until < length:
        start = max(0, end - window)
        count = end - scored_until
        # The logits at the last count + 1 positions; the very last predicts past the window.
        logits = model.logits(ids[0, start:end], count + 1)[:-1]
        yield torch.log_softmax(logits, dim=-1), ids[0, scored_until:end]
        scored_until, end = end, min(end + stride, length)


def bucketed_kl(reference: TopK, log_probs: torch.Tensor) -> torch.Tensor:
    """KL(reference || model) per position over the reference's top-k tokens plus one
    bucket for the rest of the mass: a close lower bound of the full KL."""
    ref_probs = reference.log_probs.exp()
    model_log_probs = log_probs.gather(1, reference.indices)
    ref_rest = (1 - ref_probs.sum(1)).clamp_min(1e-12)
    model_rest = (1 - model_log_probs.exp().sum(1)).clamp_min(1e-12)
    top = (ref_probs * (reference.log_probs - model_log_probs)).sum(1)
    return top + ref_rest * (ref_rest.log() - model_rest.log())


def save_reference(path: Path, top_k: TopK, digest: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"digest": digest, "log_probs": top_k.log_probs, "indices": top_k.indices}
    torch.save(state, path)


def load_reference(path: Path, digest: str) -> TopK | None:
    """The bf16 reference for this evaluation, or None if missing or made for another."""
    if not path.is_file():
        return None
    state = torch.load(path, weights_only=True)
    if state.get("digest") != digest:
        return None
    return TopK(state["log_probs"], state["indices"])


# -- speed --------------------------------------------------------------------------


@dataclass(frozen=True)
class Speed:
    prefill_s: float
    decode_tokens_per_s: float


class _TokenClock(BaseStreamer):
    """Notes when generate hands over the prompt and then each new token."""

    def __init__(self):
        self.times: list[float] = []

    def put(self, value) -> None:
        self.times.append(time.perf_counter())

    def end(self) -> None:  # required by BaseStreamer; nothing to finish
        pass


def measure_speed(
    model: LoadedModel | LlamaCppModel, prompt_ids: torch.Tensor, setup: LabSetup = LabSetup()
) -> Speed:
    """Median prefill time and decode speed of greedy generation from `prompt_ids`."""
    timed = _timed_llamacpp if isinstance(model, LlamaCppModel) else _timed_generation
    timed(model, prompt_ids[:, :8], 2)  # the first call pays one-time setup
    timings = [timed(model, prompt_ids, setup.new_tokens) for _ in range(setup.speed_runs)]
    return Speed(
        statistics.median(prefill for prefill, _ in timings),
        statistics.median(rate for _, rate in timings),
    )


def _timed_generation(
    loaded: LoadedModel, prompt_ids: torch.Tensor, new_tokens: int
) -> tuple[float, float]:
    clock = _TokenClock()
    started = time.perf_counter()
    with torch.inference_mode():
        loaded.model.generate(
            prompt_ids,
            attention_mask=torch.ones_like(prompt_ids),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,  # no early end-of-text: every run decodes as much
            do_sample=False,
            streamer=clock,
        )
    first_token, last_token = clock.times[1], clock.times[-1]
    decoded = len(clock.times) - 2  # tokens after the first
    return first_token - started, decoded / max(last_token - first_token, 1e-9)


def _timed_llamacpp(
    loaded: LlamaCppModel, prompt_ids: torch.Tensor, new_tokens: int
) -> tuple[float, float]:
    loaded.llama.reset()  # else the prompt, seen before, would come from its cache
    started = time.perf_counter()
    tokens = loaded.llama.generate(prompt_ids[0].tolist(), temp=0.0, repeat_penalty=1.0)
    times = []
    for _ in range(new_tokens):  # no early end-of-text: every run decodes as much
        next(tokens)
        times.append(time.perf_counter())
    tokens.close()
    return times[0] - started, (len(times) - 1) / max(times[-1] - times[0], 1e-9)


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6  # KiB on Linux


# -- the lesson quiz, answered by the model -----------------------------------------


def choose_option(model: LoadedModel | LlamaCppModel, question: str, options: Sequence[str]) -> int:
    """The index of the option the model finds likeliest as the answer to `question`.

    Each option is scored by its mean log-likelihood per token, so that long options
    are not penalised for their length.
    """
    tokenizer = model.tokenizer
    prompt = tokenizer(f"Question: {question}\nAnswer:").input_ids
    scores = []
    for option in options:
        answer = tokenizer(f" {option}", add_special_tokens=False).input_ids
        # The logits at the answer's positions, each shifted by one, predict its tokens.
        logits = model.logits(torch.tensor(prompt + answer), len(answer) + 1)[:-1]
        log_probs = torch.log_softmax(logits, dim=-1)
        scores.append(log_probs.gather(1, torch.tensor(answer)[:, None]).mean().item())
    return max(range(len(options)), key=scores.__getitem__)


def quiz_score(model: LoadedModel | LlamaCppModel, bank: str = QUIZ_BANK) -> tuple[int, int]:
    """(correct, asked) over the bank's multiple-choice questions; free text is skipped."""
    choices = [q for q in load_bank(bank).questions if q.kind == "choice"]
    correct = sum(choose_option(model, q.question, q.options) == q.correct for q in choices)
    return correct, len(choices)


# -- one precision in its own process -----------------------------------------------


@dataclass(frozen=True)
class _Job:
    model: str
    cache_dir: Path
    precision: str
    quality: bool
    reference_path: Path | None
    setup: LabSetup
    digest: str


def measure_isolated(
    settings: Settings,
    precision: str,
    *,
    quality: bool = True,
    reference_path: Path | None = None,
    setup: LabSetup = LabSetup(),
    on_step: Callable[[str], None] = lambda step: None,
) -> PrecisionResult:
    """Measure one precision in a fresh interpreter, so its load time and peak memory are
    its own. With `quality`, bf16 writes the KL reference to `reference_path` and the
    other precisions read it there.

    The interpreter is started by multiprocessing's spawn, which re-imports the calling
    script: a script calling this needs the `if __name__ == "__main__":` guard.
    """
    if quality and reference_path is None:
        raise ValueError("quality measurements need a reference_path")
    job = _Job(
        settings.model,
        settings.cache_dir,
        precision,
        quality,
        reference_path,
        setup,
        eval_digest(setup),
    )
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    process = context.Process(target=_child, args=(job, messages), daemon=True)
    process.start()
    try:
        result = _await_result(process, messages, on_step, LABELS[precision])
    except BaseException:
        process.kill()
        raise
    process.join()
    return result


def _await_result(process, messages, on_step, label: str) -> PrecisionResult:
    while True:
        try:
            kind, payload = messages.get(timeout=1.0)
        except queue.Empty:
            # Once the process is gone everything it sent is in the pipe.
            if not process.is_alive() and messages.empty():
                ended = _how_it_ended(process.exitcode)
                raise LabError(f"the {label} measurement {ended}") from None
            continue
        if kind == "step":
            on_step(payload)
        elif kind == "error":
            raise LabError(f"{label}: {payload}")
        else:
            return PrecisionResult(**payload)


def _how_it_ended(exit_code: int | None) -> str:
    if exit_code == -signal.SIGKILL:
        return "was killed before reporting, perhaps for lack of memory"
    return f"stopped (exit code {exit_code}) before reporting: its error is printed above"


def _child(job: _Job, messages) -> None:
    from tutor.logs import configure_logging

    configure_logging()
    try:
        result = _measure_here(job, lambda step: messages.put(("step", step)))
        messages.put(("result", asdict(result)))
    except Exception as error:  # reported to the parent, which raises LabError
        messages.put(("error", f"{type(error).__name__}: {error}"))


QUALITY_STEPS = 4  # the steps _measure_here reports when it measures quality


def _measure_here(job: _Job, on_step: Callable[[str], None]) -> PrecisionResult:
    torch.set_num_threads(job.setup.threads)
    on_step("loading")
    loaded = _load(job)
    ids = eval_ids(loaded.tokenizer, job.setup)
    on_step("timing generation")
    speed = measure_speed(loaded, ids[:, : job.setup.prompt_tokens], job.setup)
    result = PrecisionResult(
        precision=job.precision,
        footprint_mb=loaded.footprint_bytes / 1e6,
        peak_rss_mb=peak_rss_mb(),  # before scoring, whose logits are not the model's cost
        load_s=loaded.load_seconds,
        prefill_s=speed.prefill_s,
        decode_tokens_per_s=speed.decode_tokens_per_s,
    )
    if not job.quality:
        return result
    on_step("scoring the evaluation text")
    if job.precision == LLAMACPP:  # a second instance that keeps every position's logits
        loaded = _load(job, scoring=True)
    if job.precision == "none":
        score = replace(
            score_text(loaded, ids, setup=job.setup), kl_divergence=0.0, top1_agreement=1.0
        )
        save_reference(job.reference_path, score.top_k, job.digest)
    else:
        reference = load_reference(job.reference_path, job.digest)
        if reference is None:
            raise LabError("no bf16 reference for this evaluation: measure 'none' first")
        score = score_text(loaded, ids, reference, job.setup)
    on_step("answering the quiz")
    correct, asked = quiz_score(loaded)
    return replace(
        result,
        eval_tokens=int(ids.shape[1]),
        perplexity=score.perplexity,
        kl_divergence=score.kl_divergence,
        top1_agreement=score.top1_agreement,
        quiz_correct=correct,
        quiz_total=asked,
    )


def _load(job: _Job, scoring: bool = False) -> LoadedModel | LlamaCppModel:
    if job.precision == LLAMACPP:
        return load_llamacpp(job.model, job.cache_dir, scoring=scoring, threads=job.setup.threads)
    return load_model(job.model, job.precision, job.cache_dir)


# -- the lab ------------------------------------------------------------------------


def lab_files(settings: Settings) -> tuple[Path, Path, Path]:
    """Where the latest report is written: chart (PNG), Markdown and JSON."""
    folder = settings.data_dir / "lab"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "lab.png", folder / "lab.md", folder / "lab.json"


def project_version() -> str:
    return importlib.metadata.version("quantutor")


def display_name(model: str) -> str:
    return PACKAGED_NAME if model == PACKAGED_MODEL else model


def runs_gguf(model: str) -> bool:
    """Whether llama.cpp can run this model: the packaged GGUF or a .gguf file."""
    return model == PACKAGED_MODEL or model.endswith(".gguf")


def default_precisions(settings: Settings) -> tuple[str, ...]:
    """The bitsandbytes precisions, and llama.cpp beside them where it can run."""
    if llamacpp.available() and runs_gguf(settings.model):
        return MEASURABLE
    return PRECISIONS


def _notes(settings: Settings, precisions: Sequence[str]) -> list[str]:
    if LLAMACPP in precisions or not runs_gguf(settings.model):
        return []
    if not llamacpp.available():
        return [f"{LABELS[LLAMACPP]} not measured: {llamacpp.INSTALL_HINT}."]
    return [f"{LABELS[LLAMACPP]} not measured: add `--precisions ... {LLAMACPP}`."]


def run_lab(
    settings: Settings,
    precisions: Sequence[str] | None = None,
    fresh: bool = False,
    progress: bool = True,
    setup: LabSetup = LabSetup(),
    answer_questions: int = ANSWER_QUESTIONS,
) -> LabReport:
    """Measure each precision, or reuse this version's cached results unless `fresh`.

    bf16 is measured first when any other precision is, since their KL divergence is
    measured from its distribution. See measure_isolated about the calling script.
    """
    precisions = precisions or default_precisions(settings)
    unknown = set(precisions) - set(MEASURABLE)
    if unknown:
        raise LabError(f"unknown precision(s) {sorted(unknown)}: choose from {MEASURABLE}")
    if LLAMACPP in precisions and not llamacpp.available():
        raise LabError(f"{LABELS[LLAMACPP]}: {llamacpp.INSTALL_HINT}")
    cache = _Cache(settings, project_version(), eval_digest(setup))
    results = {} if fresh else {p: r for p in precisions if (r := cache.load(p)) is not None}
    todo = [p for p in MEASURABLE if p in precisions and p not in results]  # bf16 first
    needs_reference = any(p != "none" for p in todo)
    if needs_reference and "none" not in todo and not cache.reference_ready():
        todo.insert(0, "none")
    with tqdm(total=len(todo) * QUALITY_STEPS, disable=not progress, unit="step") as bar:
        for precision in todo:
            result = _measure_with_bar(settings, precision, cache.reference_path, setup, bar)
            cache.save(result)
            if precision in precisions:
                results[precision] = result
    for precision in precisions:
        if results[precision].draft_recall is None and answer_questions:
            results[precision] = _with_answer_recall(settings, results[precision], answer_questions)
            cache.save(results[precision])
    ordered = [results[p] for p in precisions]
    notes = _notes(settings, precisions)
    return LabReport(display_name(settings.model), cache.version, ordered, setup, notes)


def _with_answer_recall(settings: Settings, result: PrecisionResult, limit: int) -> PrecisionResult:
    """The answer benchmark's key-fact recall with the whole tutor at this precision."""
    questions = load_questions(limit)
    if not questions:  # installed without the benchmark data
        return result
    print(f"Answer benchmark at {result.label}: {len(questions)} questions...", file=sys.stderr)
    runtime = (
        {"runtime": "llamacpp"}
        if result.precision == LLAMACPP
        else {"quantization": result.precision}
    )
    records = ask_all(
        questions,
        **runtime,
        model=settings.model,
        data_dir=str(settings.data_dir),
        cache_dir=str(settings.cache_dir),
    )
    found = sum(key_fact_found(q, r) for q, r in zip(questions, records))
    drafted = sum(key_fact_drafted(q, r) for q, r in zip(questions, records))
    return replace(
        result, answer_recall=found / len(questions), draft_recall=drafted / len(questions)
    )


def _measure_with_bar(
    settings: Settings, precision: str, reference_path: Path, setup: LabSetup, bar
) -> PrecisionResult:
    steps_begun = 0

    def on_step(step: str) -> None:
        nonlocal steps_begun
        if steps_begun:
            bar.update(1)  # a step begins when the one before it is done
        steps_begun += 1
        bar.set_description(f"{LABELS[precision]}: {step}")

    result = measure_isolated(
        settings, precision, reference_path=reference_path, setup=setup, on_step=on_step
    )
    bar.update(1)
    return result


class _Cache:
    """Results as JSON in data_dir/lab, one file per model, precision and project version;
    a result measured on another evaluation text is not reused."""

    def __init__(self, settings: Settings, version: str, digest: str):
        self.folder = settings.data_dir / "lab"
        self.version = version
        self.digest = digest
        name = settings.model
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[-60:]
        self.key = f"{slug}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"

    @property
    def reference_path(self) -> Path:
        return self.folder / f"{self.key}-{self.version}-bf16-reference.pt"

    def reference_ready(self) -> bool:
        return load_reference(self.reference_path, self.digest) is not None

    def _path(self, precision: str) -> Path:
        return self.folder / f"{self.key}-{precision}-{self.version}.json"

    def load(self, precision: str) -> PrecisionResult | None:
        path = self._path(precision)
        if not path.is_file():
            return None
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved["digest"] != self.digest:
                return None
            return PrecisionResult(**saved["result"])
        except (OSError, ValueError, KeyError, TypeError):  # unreadable: measure again
            return None

    def save(self, result: PrecisionResult) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"digest": self.digest, "result": asdict(result)}
        self._path(result.precision).write_text(json.dumps(record, indent=2), encoding="utf-8")


# -- the chart ----------------------------------------------------------------------


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


def _draw_chart(report: LabReport, path: Path) -> None:
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
