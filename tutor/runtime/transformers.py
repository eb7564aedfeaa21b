"""The transformers runtime: a Hugging Face model loaded with bitsandbytes (nf4, int8) or in
bf16, drafting greedily in left-padded batches. The only module that uses bitsandbytes.

A request drafted alone uses prompt-lookup decoding (transformers' assisted generation
cannot take a batch): drafts copy their sources, so spans of the prompt, proposed as
the next tokens, are checked in one forward pass instead of one pass per token.
"""

import os
import time
from dataclasses import dataclass
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

from tutor.errors import ModelError
from tutor.runtime.base import PROMPT_LOOKUP_TOKENS, Generation, GenerationRequest, TokenText
from tutor.runtime.packaged import PACKAGED_MODEL, convert_packaged, display_name


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


class _StopWhenDone(StoppingCriteria):
    """Stops each row of a batch that is complete, cancelled or out of time; the other
    rows go on."""

    def __init__(self, rows: list["TokenText"]):
        self.rows = rows

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        stops = [row.done or row.request.should_stop() for row in self.rows]
        return torch.tensor(stops, dtype=torch.bool)


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
        # One token per row a step; prompt lookup hands over all the tokens it accepted.
        for row, tokens in zip(self.rows, value.reshape(len(self.rows), -1).tolist()):
            for token in tokens:
                row.add(token)

    def end(self) -> None:
        for row in self.rows:
            row.finish()


class _TokenClock(BaseStreamer):
    """Notes when generate hands over the prompt and then each new token."""

    def __init__(self):
        self.times: list[float] = []

    def put(self, value) -> None:
        self.times.append(time.perf_counter())

    def end(self) -> None:  # required by BaseStreamer; nothing to finish
        pass


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
    prompt_lookup: bool = True  # for a request drafted alone

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

    def timed_decode(self, prompt_ids: torch.Tensor, new_tokens: int) -> tuple[float, float]:
        """(prefill seconds, decode tokens/s) of `new_tokens` greedy tokens after `prompt_ids`."""
        clock = _TokenClock()
        started = time.perf_counter()
        with torch.inference_mode():
            self.model.generate(
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
        lookup = len(requests) == 1 and self.prompt_lookup
        with torch.inference_mode():
            model.generate(  # the streamer keeps each row's tokens
                **inputs,
                max_new_tokens=max(r.max_new_tokens for r in requests),
                do_sample=False,
                streamer=streamer,
                stopping_criteria=StoppingCriteriaList([_StopWhenDone(streamer.rows)]),
                pad_token_id=tokenizer.pad_token_id,
                prompt_lookup_num_tokens=PROMPT_LOOKUP_TOKENS if lookup else None,
            )
        first = streamer.first_token_at or time.perf_counter()
        return [
            request.stop_reason
            or row.generation(int(inputs["attention_mask"][i].sum()), started, first)
            for i, (request, row) in enumerate(zip(requests, streamer.rows))
        ]


def load_model(
    name: str, quantization: str, cache_dir: Path, prompt_lookup: bool = True
) -> LoadedModel:
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
    return LoadedModel(
        model,
        tokenizer,
        display_name(name),
        quantization,
        time.perf_counter() - started,
        prompt_lookup=prompt_lookup,
    )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
