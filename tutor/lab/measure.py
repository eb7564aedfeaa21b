"""What the lab measures on one loaded model: perplexity, KL divergence and top-1 agreement
on a fixed text from the knowledge base, decoding speed, and the lesson quiz answered by
the model itself.
"""

import hashlib
import json
import math
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar

import torch

from knowledge.documents import PACKAGED_SOURCES, Document, load_documents
from quiz.bank import load_bank
from tutor.curated import Entry, SourceDoc, load_table
from tutor.errors import CuratedError, LabError
from tutor.lab.report import LABELS, SERVER, LabSetup
from tutor.runtime.base import GenerationRequest, MeasuredModel


class EvalDocument(Entry):
    """One document of the evaluation text (tutor/lab/data/eval_documents.yaml). The text is
    these knowledge-base documents, in name order, cut at eval_tokens: a fixed list, so that
    adding a source does not move every figure."""

    table: ClassVar[str] = "eval_documents"
    key: ClassVar[str] = "doc_id"

    doc_id: SourceDoc


EVAL_DOCUMENTS_FILE = Path(__file__).parent / "data" / "eval_documents.yaml"


@cache
def eval_document_ids() -> frozenset[str]:
    """The evaluation documents' doc_ids, read and checked once."""
    try:
        entries = load_table(EVAL_DOCUMENTS_FILE, EvalDocument)
    except CuratedError as error:
        raise LabError(f"the evaluation documents: {error}") from error
    return frozenset(entry.doc_id for entry in entries)


QUIZ_BANK = "lesson"


def eval_documents() -> list[Document]:
    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    wanted = eval_document_ids()
    chosen = [doc for doc in documents if doc.doc_id in wanted]
    missing = sorted(wanted - {doc.doc_id for doc in chosen})
    if missing:
        raise LabError(f"evaluation documents not in {PACKAGED_SOURCES}: {', '.join(missing)}")
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
    model: MeasuredModel,
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


@dataclass(frozen=True)
class Speed:
    prefill_s: float
    decode_tokens_per_s: float


def measure_speed(
    model: MeasuredModel, prompt_ids: torch.Tensor, setup: LabSetup = LabSetup()
) -> Speed:
    """Median prefill time and decode speed of greedy generation from `prompt_ids`."""
    model.timed_decode(prompt_ids[:, :8], 2)  # the first call pays one-time setup
    timings = [model.timed_decode(prompt_ids, setup.new_tokens) for _ in range(setup.speed_runs)]
    return Speed(
        statistics.median(prefill for prefill, _ in timings),
        statistics.median(rate for _, rate in timings),
    )


def measure_streamed_speed(model, setup: LabSetup = LabSetup()) -> Speed:
    """Median time to the first text and text pieces per second after it, of drafts
    streamed from a model that takes chat messages only (the model server): the prompt is
    the evaluation text's first setup.prompt_tokens tokens, at about 4 characters each."""
    messages = [{"role": "user", "content": eval_text()[: 4 * setup.prompt_tokens]}]
    timings = [_streamed(model, messages, setup.new_tokens) for _ in range(setup.speed_runs + 1)]
    timings = timings[1:]  # the first pays for the server's warm-up and prompt cache
    return Speed(
        statistics.median(prefill for prefill, _ in timings),
        statistics.median(rate for _, rate in timings),
    )


def _streamed(model, messages: list[dict], new_tokens: int) -> tuple[float, float]:
    times: list[float] = []
    request = GenerationRequest(messages, new_tokens, lambda _: times.append(time.perf_counter()))
    result = model.generate_batch([request])[0]
    if isinstance(result, Exception):
        raise LabError(f"{LABELS[SERVER]}: {result}")
    if len(times) < 2:
        raise LabError(f"{LABELS[SERVER]}: the server streamed {len(times)} piece(s) of text")
    prefill = times[0] - request.started_at
    return prefill, (len(times) - 1) / max(times[-1] - times[0], 1e-9)


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6  # KiB on Linux


def choose_option(model: MeasuredModel, question: str, options: Sequence[str]) -> int:
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


def quiz_score(model: MeasuredModel, bank: str = QUIZ_BANK) -> tuple[int, int]:
    """(correct, asked) over the bank's multiple-choice questions; free text is skipped."""
    choices = [q for q in load_bank(bank).questions if q.kind == "choice"]
    correct = sum(choose_option(model, q.question, q.options) == q.correct for q in choices)
    return correct, len(choices)
