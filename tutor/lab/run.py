"""The lab: quantize, then re-evaluate per workload.

Each precision (none = bf16, int8, nf4, and llama.cpp's Q4_1 where installed) of the
configured model is measured in a fresh process (isolated.py) for what quantization
saves (weight footprint, peak memory, load, prefill and decode time) and what it may
cost (measure.py: perplexity, KL divergence from bf16 and top-token agreement, as
llama.cpp reports them, and the lesson quiz answered by the model itself), then with
the whole tutor on the answer benchmark (answers.py). Results are cached per version.
With QUANTUTOR_RUNTIME=server, the model server is a row too: its streaming speed and
the answer benchmark, measured afresh each time (the server can change under the lab).
"""

import hashlib
import importlib.metadata
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

from tqdm import tqdm

from tutor.errors import CuratedError, LabError, ModelError
from tutor.lab.answers import ask_all, key_fact_drafted, key_fact_found, load_questions
from tutor.lab.isolated import QUALITY_STEPS, measure_isolated
from tutor.lab.measure import (
    QUIZ_BANK,
    eval_digest,
    eval_documents,
    load_reference,
    measure_streamed_speed,
)
from tutor.lab.report import (
    LABELS,
    LLAMACPP,
    MEASURABLE,
    PRECISIONS,
    SERVER,
    LabReport,
    LabSetup,
    PrecisionResult,
)
from tutor.runtime import llamacpp
from tutor.runtime.packaged import PACKAGED_MODEL, display_name
from tutor.settings import Settings

ANSWER_QUESTIONS = 12  # the answer benchmark's first questions, asked at each precision


def project_version() -> str:
    return importlib.metadata.version("quantutor")


def runs_gguf(model: str) -> bool:
    """Whether llama.cpp can run this model: the packaged GGUF or a .gguf file."""
    return model == PACKAGED_MODEL or model.endswith(".gguf")


def default_precisions(settings: Settings) -> tuple[str, ...]:
    """The bitsandbytes precisions, llama.cpp beside them where it can run, and the model
    server where it is the configured runtime."""
    local = MEASURABLE if llamacpp.available() and runs_gguf(settings.model) else PRECISIONS
    return (*local, SERVER) if settings.runtime == "server" else local


def _notes(settings: Settings, precisions: Sequence[str]) -> list[str]:
    served = [
        f"{LABELS[SERVER]}: {settings.server_model} at {settings.server_url}; speed and answer "
        "recall only (perplexity, KL and the quiz need log-probabilities of given text, which "
        "OpenAI-compatible servers do not all report). Its prompt is cut by characters "
        "to about as many tokens, and its decode counts streamed pieces (a token each)."
    ]
    return (served if SERVER in precisions else []) + _llamacpp_notes(settings, precisions)


def _llamacpp_notes(settings: Settings, precisions: Sequence[str]) -> list[str]:
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
    unknown = set(precisions) - {*MEASURABLE, SERVER}
    if unknown:
        raise LabError(f"unknown precision(s) {sorted(unknown)}: choose from {MEASURABLE}")
    if LLAMACPP in precisions and not llamacpp.available():
        raise LabError(f"{LABELS[LLAMACPP]}: {llamacpp.INSTALL_HINT}")
    cache = _Cache(settings, project_version(), eval_digest(setup))
    results = {} if fresh else {p: r for p in precisions if (r := cache.load(p)) is not None}
    if SERVER in precisions:
        results[SERVER] = _measure_server(settings, setup)
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
            if precision != SERVER:
                cache.save(results[precision])
    ordered = [results[p] for p in precisions]
    notes = _notes(settings, precisions)
    return LabReport(
        display_name(settings.model),
        cache.version,
        ordered,
        setup,
        notes,
        evaluation_documents=[doc.doc_id for doc in eval_documents()],
        quiz_bank=QUIZ_BANK,
    )


def _with_answer_recall(settings: Settings, result: PrecisionResult, limit: int) -> PrecisionResult:
    """The answer benchmark's key-fact recall with the whole tutor at this precision."""
    try:
        questions = load_questions(limit)  # shipped in the package: missing is an error
    except CuratedError as error:
        raise LabError(f"the answer benchmark's questions: {error}") from error
    print(f"Answer benchmark at {result.label}: {len(questions)} questions...", file=sys.stderr)
    runtime = _runtime_settings(settings, result.precision)
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


def _runtime_settings(settings: Settings, precision: str) -> dict[str, str]:
    """The QUANTUTOR_* settings that answer with this row's runtime."""
    if precision == LLAMACPP:
        return {"runtime": "llamacpp"}
    if precision != SERVER:
        return {"quantization": precision}
    key = settings.server_api_key
    served = {"server_url": settings.server_url, "server_model": settings.server_model}
    return {
        "runtime": "server",
        **served,
        **({"server_api_key": key.get_secret_value()} if key else {}),
    }


def _measure_server(settings: Settings, setup: LabSetup) -> PrecisionResult:
    """The model server's row: connecting, and drafts streamed from it."""
    from tutor.runtime.server import connect_server

    try:
        model = connect_server(settings)
    except ModelError as error:
        raise LabError(f"{LABELS[SERVER]}: {error}") from None
    try:
        speed = measure_streamed_speed(model, setup)
    finally:
        model.client.close()
    return PrecisionResult(
        SERVER, None, None, model.load_seconds, speed.prefill_s, speed.decode_tokens_per_s
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
