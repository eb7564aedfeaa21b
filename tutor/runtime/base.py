"""One model interface: what the worker, the service and the lab ask of every runtime.

A runtime (transformers with bitsandbytes, llama.cpp, a model server, the fake one for
tests) takes GenerationRequests in batches and returns a Generation (or the exception
that stopped it) for each; TokenText (token ids) and PieceText (a server's text pieces)
turn each request's draft into streamed text and stop it at its sentence limit.
"""

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from tutor.text import split_sentences

# Prompt-lookup decoding: how many tokens that follow a match in the prompt are proposed
# as the draft's next ones (and checked in one forward pass).
PROMPT_LOOKUP_TOKENS = 10


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


class DraftText:
    """One request's draft as it arrives: handed to its callback piece by piece, done at
    the sentence stop or the token limit. Subclasses say what a piece is."""

    def __init__(self, request: GenerationRequest):
        self.request = request
        self.new_tokens = 0
        self.done = False
        self._sent = 0

    @property
    def text(self) -> str:
        raise NotImplementedError

    def _took_token(self) -> None:
        self.new_tokens += 1
        limit, callback = self.request.max_sentences, self.request.on_text
        text = self.text if limit is not None or callback is not None else ""  # decoded once
        # Once the sentence after the last one wanted has begun, that one is complete,
        # citation and all; the fragment is dropped with the draft's other loose ends.
        enough = limit is not None and len(split_sentences(text)) > limit
        self.done = self.new_tokens >= self.request.max_new_tokens or enough
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
            new_tokens=self.new_tokens,
            prefill_ms=(first - started) * 1000,
            total_ms=(finished - started) * 1000,
        )


class TokenText(DraftText):
    """A draft of token ids, decoded by the tokenizer (the in-process runtimes)."""

    def __init__(self, tokenizer, request: GenerationRequest):
        super().__init__(request)
        self.tokenizer = tokenizer
        self.tokens: list[int] = []

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
        self._took_token()


class PieceText(DraftText):
    """A draft of text pieces, one token each, as a model server streams them."""

    def __init__(self, request: GenerationRequest):
        super().__init__(request)
        self.pieces: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def add(self, piece: str) -> None:
        """Keep `piece`; pieces after the draft is done are ignored."""
        if not self.done:
            self.pieces.append(piece)
            self._took_token()


class Model(Protocol):
    """A loaded language model, whatever runs it: what the worker and the service use."""

    name: str  # what a person reads: "SmolLM2-135M-Instruct"
    quantization: str  # "nf4", "int8", "none", "q4_1", "server", ...
    load_seconds: float
    max_batch: int  # requests it drafts together at most

    @property
    def footprint_bytes(self) -> int: ...

    def describe(self) -> str: ...

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation | Exception]:
        """Greedy generation for each request, on the calling thread."""
        ...


class MeasuredModel(Model, Protocol):
    """A model the lab can measure: its next-token distribution and its decoding speed."""

    tokenizer: object  # a transformers tokenizer: prompts and text are the same everywhere

    @property
    def context_length(self) -> int: ...

    def logits(self, ids, keep: int):
        """Float32 next-token logits (a torch tensor) at the last `keep` positions of `ids`."""
        ...

    def timed_decode(self, prompt_ids, new_tokens: int) -> tuple[float, float]:
        """(prefill seconds, decode tokens/s) of `new_tokens` greedy tokens after `prompt_ids`."""
        ...
