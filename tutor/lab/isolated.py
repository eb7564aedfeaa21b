"""One precision measured in a fresh process, so that its load time and peak memory are its own."""

import multiprocessing
import queue
import signal
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from tutor.errors import LabError
from tutor.lab.measure import (
    eval_digest,
    eval_ids,
    load_reference,
    measure_speed,
    peak_rss_mb,
    quiz_score,
    save_reference,
    score_text,
)
from tutor.lab.report import LABELS, LLAMACPP, LabSetup, PrecisionResult
from tutor.runtime.base import MeasuredModel
from tutor.settings import Settings


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


def _load(job: _Job, scoring: bool = False) -> MeasuredModel:
    if job.precision == LLAMACPP:
        from tutor.runtime.llamacpp import load_llamacpp

        return load_llamacpp(job.model, job.cache_dir, scoring=scoring, threads=job.setup.threads)
    from tutor.runtime.transformers import load_model

    return load_model(job.model, job.precision, job.cache_dir)
