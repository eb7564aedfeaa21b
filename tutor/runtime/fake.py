"""A deterministic stand-in for the language model, for tests that are not about the model.

It drafts from a script (by default: the first sentence of the first numbered source in
the prompt, cited [1]), one word per token, through the same TokenText as the real
runtimes, so streaming, the sentence stop, cancellation and the time limit behave as
they do with a real model, in microseconds instead of seconds.

    model = FakeModel({"What is NF4?": "NF4 is a 4-bit format [1]."}, token_delay_s=0.01)
"""

import re
import time
from collections.abc import Callable, Mapping

from tutor.runtime.base import Generation, GenerationRequest, TokenText
from tutor.text import split_sentences

Script = Mapping[str, str] | Callable[[list[dict]], str]
_NUMBERED_SOURCE = re.compile(r"^\[1\] (.+)$", re.MULTILINE)
_QUESTION = re.compile(r"Question: (.+)$", re.MULTILINE)


class WordTokenizer:
    """Words (with the space after them) as tokens; id 0 ends the text."""

    eos_token_id = pad_token_id = 0

    def __init__(self):
        self.pieces = ["</s>"]
        self._ids: dict[str, int] = {}

    def encode(self, text: str) -> list[int]:
        return [self._id(piece) for piece in re.findall(r"\S+\s*", text)]

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(self.pieces[i] for i in ids if i != self.eos_token_id)

    def _id(self, piece: str) -> int:
        if piece not in self._ids:
            self._ids[piece] = len(self.pieces)
            self.pieces.append(piece)
        return self._ids[piece]


def source_echo(messages: list[dict]) -> str:
    """The first sentence of source [1], cited: a draft the verifier can check."""
    prompt = messages[-1]["content"]
    source = _NUMBERED_SOURCE.search(prompt)
    if source is None:
        return "I do not know."
    first = split_sentences(source.group(1))[0].rstrip(".")
    return f"{first} [1]."


class FakeModel:
    """Scripted drafts behind the runtime interface. A mapping is keyed by the question
    (the prompt's "Question:" line; questions it lacks get `source_echo`), a callable
    gets the chat messages. Every request is recorded in `requests`."""

    name = "fake-model"
    quantization = "none"
    load_seconds = 0.0
    footprint_bytes = 0

    def __init__(self, script: Script | None = None, token_delay_s: float = 0.0, max_batch=8):
        self.script = script or {}
        self.token_delay_s = token_delay_s
        self.max_batch = max_batch
        self.tokenizer = WordTokenizer()
        self.requests: list[GenerationRequest] = []

    def describe(self) -> str:
        return f"{self.name} (scripted, for tests)"

    def draft_for(self, messages: list[dict]) -> str:
        if callable(self.script):
            return self.script(messages)
        question = _QUESTION.search(messages[-1]["content"])
        key = question.group(1) if question else messages[-1]["content"]
        return self.script.get(key) or source_echo(messages)

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation | Exception]:
        self.requests.extend(requests)
        return [self._generate(request) for request in requests]

    def _generate(self, request: GenerationRequest) -> Generation | Exception:
        started = request.started_at = time.perf_counter()
        prompt = self.tokenizer.encode(" ".join(m["content"] for m in request.messages))
        text = TokenText(self.tokenizer, request)
        for token in self.tokenizer.encode(self.draft_for(request.messages)):
            if request.should_stop():
                break
            time.sleep(self.token_delay_s)
            text.add(token)
            if text.done:
                break
        text.finish()
        return request.stop_reason or text.generation(len(prompt), started, started)
