"""The optional llama.cpp runtime: the packaged Q4_1 GGUF run directly, about 4x faster
on a CPU than transformers at any bitsandbytes precision.

Install it with `pip install -e '.[llamacpp]'` (builds llama.cpp from source in a few
minutes) and set QUANTUTOR_RUNTIME=llamacpp. Prompts are formatted and text decoded by
the same tokenizer as the transformers runtime, so both see identical token ids.

Prompt-lookup decoding (llama-cpp-python's LlamaPromptLookupDecoding) is off here, and
QUANTUTOR_PROMPT_LOOKUP does not turn it on: llama.cpp decodes this small model at the
CPU's arithmetic limit, so checking 10 proposed tokens costs nearly what decoding them
does, and it measured 2-3x slower (bench/answer_eval.py shows it; `prompt_lookup=True`
is kept for that measurement). transformers spends most of a token in Python, which one
forward pass over the proposals saves: there it is on.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from tutor.errors import ModelError
from tutor.runtime.base import PROMPT_LOOKUP_TOKENS, Generation, GenerationRequest, TokenText
from tutor.runtime.packaged import PACKAGED_MODEL, PACKAGED_NAME, convert_packaged, packaged_gguf

INSTALL_HINT = (
    "llama.cpp is not installed: `.venv/bin/pip install -e '.[llamacpp]'` adds it "
    "(it builds from source in a few minutes)"
)
QUANTIZATION = "q4_1"  # the packaged GGUF's own format


def available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class LlamaCppModel:
    """The GGUF in llama.cpp, behind the same interface as transformers' LoadedModel."""

    llama: object
    tokenizer: object
    gguf: Path
    name: str
    load_seconds: float
    scoring: bool = False  # keeps every position's logits, for logits()
    quantization: str = QUANTIZATION
    max_batch: int = 1  # one at a time: at ~100 tok/s a queue drains faster than a batch

    @property
    def footprint_bytes(self) -> int:
        return self.gguf.stat().st_size  # the weights are mapped from the file as they are

    def describe(self) -> str:
        return (
            f"{self.name} (llama.cpp {self.quantization}, {self.footprint_bytes / 1e6:.0f} MB, "
            f"loaded in {self.load_seconds:.1f} s)"
        )

    @property
    def context_length(self) -> int:
        return self.llama.n_ctx()

    def logits(self, ids: torch.Tensor, keep: int) -> torch.Tensor:
        """Float32 next-token logits at the last `keep` positions of `ids` (one sequence)."""
        if not self.scoring:
            raise ModelError("logits need the model loaded with scoring=True")
        self.llama.reset()
        self.llama.eval(ids.tolist())
        return torch.from_numpy(self.llama.scores[len(ids) - keep : len(ids)].copy())

    def timed_decode(self, prompt_ids: torch.Tensor, new_tokens: int) -> tuple[float, float]:
        """(prefill seconds, decode tokens/s) of `new_tokens` greedy tokens after `prompt_ids`."""
        self.llama.reset()  # else the prompt, seen before, would come from its cache
        started = time.perf_counter()
        tokens = self.llama.generate(prompt_ids[0].tolist(), temp=0.0, repeat_penalty=1.0)
        times = []
        for _ in range(new_tokens):  # no early end-of-text: every run decodes as much
            next(tokens)
            times.append(time.perf_counter())
        tokens.close()
        return times[0] - started, (len(times) - 1) / max(times[-1] - times[0], 1e-9)

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        return self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=False
        )

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation | Exception]:
        return [self._generate(request) for request in requests]

    def _generate(self, request: GenerationRequest) -> Generation | Exception:
        started = request.started_at = time.perf_counter()
        ids = self.prompt_ids(request.messages)
        text = TokenText(self.tokenizer, request)
        first = None
        # temp=0 is greedy; repeat_penalty=1 keeps it the same argmax transformers takes.
        for token in self.llama.generate(ids, temp=0.0, repeat_penalty=1.0):
            first = first or time.perf_counter()
            text.add(token)
            if text.done or request.should_stop():
                break
        text.finish()
        return request.stop_reason or text.generation(len(ids), started, first or started)


def load_llamacpp(
    name: str,
    cache_dir: Path,
    *,
    scoring: bool = False,
    threads: int | None = None,
    prompt_lookup: bool = False,
) -> LlamaCppModel:
    """The packaged GGUF (or a GGUF file given as the model) in llama.cpp.

    `scoring` keeps the logits of every position, which the lab needs and a server doesn't;
    `prompt_lookup` drafts with prompt-lookup decoding (slower here: see above).
    """
    if not available():
        raise ModelError(f"QUANTUTOR_RUNTIME=llamacpp: {INSTALL_HINT}.")
    from llama_cpp import Llama
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding
    from transformers import AutoTokenizer

    started = time.perf_counter()
    if name == PACKAGED_MODEL:
        gguf, display = packaged_gguf(), PACKAGED_NAME
        tokenizer = AutoTokenizer.from_pretrained(convert_packaged(cache_dir))
    else:
        gguf, display = Path(name).expanduser(), name
        if gguf.suffix != ".gguf" or not gguf.is_file():
            raise ModelError(
                f"QUANTUTOR_MODEL: {name!r} is not a .gguf file; llama.cpp runs GGUF models "
                "only. Use 'packaged' or the path of a .gguf file."
            )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    threads = threads or default_threads()
    llama = Llama(
        model_path=str(gguf),
        n_ctx=2048,
        n_batch=1024,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=scoring,
        flash_attn=True,  # about 13% faster prefill here
        draft_model=(
            LlamaPromptLookupDecoding(num_pred_tokens=PROMPT_LOOKUP_TOKENS)
            if prompt_lookup
            else None
        ),
        verbose=False,
    )
    load_seconds = time.perf_counter() - started
    return LlamaCppModel(llama, tokenizer, gguf, display, load_seconds, scoring)
