"""Memory arithmetic a learner can check: the weights, the KV cache and the decoding bound.

Every figure is a formula over inputs that each come from a table with a source: the bits
per weight of a precision (tutor/data/precisions.yaml, scales included) and the shape of
a known model (tutor/data/model_shapes.yaml, from its config.json). The result shows the
formula with the numbers filled in, so the learner can redo it by hand.
"""

import re
from dataclasses import asdict, dataclass, field
from typing import ClassVar, TypeVar

from pydantic import Field

from tutor.curated import DATA_DIR, Entry, SourceDoc, Text, load_table
from tutor.errors import GuardError

GB = 1e9
GIB = 2**30
KV_FORMULA_DOC = "kv-cache-memory-formula.md"
DECODE_BOUND_DOC = "decode-speed-estimate.md"
OVERHEAD_DOC = "runtime-memory-overhead.md"
DEFAULT_KV_PRECISION = "fp16"
MAX_PARAMETERS_B = 10_000.0  # beyond any model: a typo, not a question
MAX_CONTEXT = 10_000_000


class Named(Entry):
    """An entry a learner names: by its name or any of its aliases (`_find`)."""

    key: ClassVar[str] = "name"

    name: Text
    aliases: tuple[Text, ...] = Field(min_length=1)


N = TypeVar("N", bound=Named)


class Precision(Named):
    """A number format's stored bits per weight, scales included, and the source saying so."""

    table: ClassVar[str] = "precisions"

    bits_per_weight: float = Field(gt=0, le=32)
    note: Text
    doc_id: SourceDoc


class ModelShape(Named):
    """The sizes that the memory arithmetic needs, as a model's config.json gives them."""

    table: ClassVar[str] = "model_shapes"

    parameters_b: float = Field(gt=0)
    layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    attention_heads: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    max_context: int = Field(gt=0)
    source: Text
    url: Text


class Gpu(Named):
    """An accelerator's peak memory bandwidth and memory, and who says so."""

    table: ClassVar[str] = "gpus"

    bandwidth_gbs: float = Field(gt=0)
    memory_gb: float = Field(gt=0)
    source: Text
    url: Text
    second_hand: bool
    architecture: Text | None = None  # "Ampere": what support tables name instead of the card
    compute_capability: str | None = Field(default=None, pattern=r"^\d+\.\d$")


PRECISIONS = load_table(DATA_DIR / "precisions.yaml", Precision)
MODEL_SHAPES = load_table(DATA_DIR / "model_shapes.yaml", ModelShape)
GPUS = load_table(DATA_DIR / "gpus.yaml", Gpu)


@dataclass
class Line:
    """One step of the arithmetic and the sources of its inputs."""

    label: str
    formula: str
    result: str
    doc_ids: list[str]
    urls: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return f"{self.label}: {self.formula} = {self.result}."


@dataclass
class Estimate:
    model: str
    parameters_b: float
    precision: str
    context: int
    batch: int
    weights_bytes: float
    kv_bytes: float | None  # None: the model's shape is unknown
    tokens_per_s_bound: float | None  # None: no bandwidth given
    lines: list[Line]

    @property
    def not_counted(self) -> str:
        missing = "Activations and runtime overhead come on top"
        if self.kv_bytes is None:
            missing = "The KV cache (give a known model and a context length), activations "
            missing += "and runtime overhead come on top"
        return missing + "."

    @property
    def total_bytes(self) -> float:
        return self.weights_bytes + (self.kv_bytes or 0.0)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["lines"] = [asdict(line) | {"text": line.text} for line in self.lines]
        return data | {"total_bytes": self.total_bytes}

    def render(self) -> str:
        """Markdown: one line per step, then where each input comes from."""
        title = f"**Memory of {self.model} at {self.precision}**"
        if self.kv_bytes is not None:
            title += f" (context {self.context:,} tokens, batch {self.batch})"
        lines = [title, *(f"- {line.text}" for line in self.lines), f"- {self.not_counted}"]
        cited = dict.fromkeys([*(d for line in self.lines for d in line.doc_ids), OVERHEAD_DOC])
        lines.append("Sources: " + ", ".join(cited))
        urls = dict.fromkeys(u for line in self.lines for u in line.urls)
        if urls:
            lines.append("Model shape and GPU figures: " + ", ".join(urls))
        return "\n".join(lines)


def _size(size: float) -> str:
    if size < GB:
        return f"{size / 1e6:,.0f} MB ({size / 2**20:,.0f} MiB)"
    return f"{size / GB:,.1f} GB ({size / GIB:,.1f} GiB)"


def find_precision(text: str) -> Precision | None:
    """The precision a text names ('nf4', '4-bit', 'Q4_K_M'), the longest alias first."""
    return _find(text, PRECISIONS)


def find_gpu(text: str) -> Gpu | None:
    """The accelerator a text names ('h100', 'RTX 4090', 'M2 Ultra', 'two 3090s')."""
    return _find(text, GPUS, plural=True)


def with_generation(question: str) -> str:
    """The question with the generation of each GPU it names: support tables and sources
    name generations, not cards ("AWQ … not on Volta" answers "awq on a v100?")."""
    generations = dict.fromkeys(
        f"{gpu.architecture}, compute capability {gpu.compute_capability}"
        for gpu in gpus_in(question)
        if gpu.architecture
    )
    return f"{question} ({'; '.join(generations)})" if generations else question


def gpus_in(text: str) -> list[Gpu]:
    """Every accelerator a text names, in the order of their longest aliases."""
    found = []
    while located := _located(text, GPUS, plural=True):
        gpu, match = located
        found.append(gpu)
        text = f"{match.string[: match.start()]} {match.string[match.end() :]}"
    return found


_GPU_COUNT = re.compile(
    r"(?<![\w.])(\d+|two|three|four|six|eight|dual|quad)\s*(?:x\s*|×\s*)?"
    r"(?:nvidia\s+|geforce\s+|rtx\s+|amd\s+|instinct\s+)*$"
)
_COUNT_WORDS = {"two": 2, "dual": 2, "three": 3, "four": 4, "quad": 4, "six": 6, "eight": 8}


def gpu_count(text: str) -> int:
    """How many GPUs the text names ('two 3090s', '2x H100', '8xA100'), else 1."""
    found = _located(text, GPUS, plural=True)
    count = found and _GPU_COUNT.search(found[1].string[: found[1].start()])
    if not count:
        return 1
    word = count.group(1)
    return (int(word) if word.isdigit() else _COUNT_WORDS[word]) or 1


def find_model(text: str) -> ModelShape | None:
    """The known model a text names ('llama 2 70b', 'Mixtral-8x7B')."""
    return _find(text, MODEL_SHAPES)


def _find(text: str, table: tuple[N, ...], plural: bool = False) -> N | None:
    found = _located(text, table, plural)
    return found[0] if found else None


def _located(text: str, table: tuple[N, ...], plural: bool = False) -> tuple[N, re.Match] | None:
    """The entry the text names, the longest alias first, and where in the normalised
    text (the match's `string`) its alias stands."""
    normal = _normal(text)
    by_alias = sorted(
        ((_normal(alias), entry) for entry in table for alias in (*entry.aliases, entry.name)),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )
    ending = r"s?(?![\w])" if plural else r"(?![\w])"
    for alias, entry in by_alias:
        if match := re.search(rf"(?<![\w.]){re.escape(alias)}{ending}", normal):
            return entry, match
    return None


def _normal(text: str) -> str:
    text = re.sub(r"(?<=\d)[x×](?=[a-z])", "x ", text.lower())  # "8xa100": 8 x a100
    return re.sub(r"[\s_]+", " ", text.replace("-", " ")).strip()


# "70B", "8b", "135m"; not "4M tokens"
_PARAMETERS = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([bm])(?![a-z])(?!\s*tokens)", re.IGNORECASE)
_CONTEXT = re.compile(
    r"(\d+(?:\.\d+)?)\s*(k)?\s*(?:tokens?|token context|ctx|context)|(\d+)k\b", re.IGNORECASE
)
_BATCH = re.compile(r"batch(?: size)?(?: of)?\s*(\d+)|(\d+)\s*(?:users|sequences|concurrent)")
_BANDWIDTH = re.compile(r"(\d+(?:\.\d+)?)\s*(tb|gb)\s*/\s*s", re.IGNORECASE)
_ASKS_MEMORY = re.compile(
    r"\b(?:memory|vram|ram|gb|gib|how big|how large|fit|size of|kv cache|tokens? per s|tok/s)\b",
    re.IGNORECASE,
)
# With a GPU or a bandwidth named, these ask the arithmetic too: "can I run it on a 4090?"
_ASKS_ON_GPU = re.compile(
    r"\b(?:how fast|speed|decod(?:e|es|ing)|tokens? a second|run|load|serve|enough)\b", re.I
)


def parameters_in(text: str) -> float | None:
    """A parameter count the text gives ('70B', '135m'), in billions."""
    match = _PARAMETERS.search(text)
    return _billions(match) if match else None


def sizes_in(text: str) -> set[float]:
    """Every parameter count the text gives, in billions."""
    return {_billions(match) for match in _PARAMETERS.finditer(text)}


def _billions(match: re.Match) -> float:
    number = float(match.group(1))
    return number if match.group(2).lower() == "b" else number / 1000


def context_in(text: str) -> int:
    match = _CONTEXT.search(text)
    if not match:
        return 0
    if match.group(3):
        return int(match.group(3)) * 1024
    number = float(match.group(1))
    return int(number * 1024) if match.group(2) else int(number)


def batch_in(text: str) -> int:
    match = _BATCH.search(text)
    return int(match.group(1) or match.group(2)) if match else 1


def bandwidth_in(text: str) -> float | None:
    """Memory bandwidth the text gives, in GB/s."""
    match = _BANDWIDTH.search(text)
    if not match:
        return None
    return float(match.group(1)) * (1000 if match.group(2).lower() == "tb" else 1)


def _model_in(text: str) -> tuple[ModelShape | None, float | None]:
    """The known model a text names and its parameter count, or a count it gives and the
    shape every listed model of that size shares."""
    shape = find_model(text)
    if shape:
        return shape, shape.parameters_b
    parameters = parameters_in(text)
    return (None if parameters is None else _shape_of_size(parameters)), parameters


def _shape_of_size(parameters_b: float) -> ModelShape | None:
    """What the KV cache of "a 70B model" needs: the layers, KV heads and head size that
    all listed models of that size (by name) share. None where there is none, or where
    they differ, as 7B models do (Llama-2-7B has 32 KV heads, Mistral-7B 8)."""
    same_size = [m for m in MODEL_SHAPES if parameters_in(m.name) == parameters_b]
    if len({(m.layers, m.kv_heads, m.head_dim) for m in same_size}) != 1:
        return None
    names = ", ".join(m.name for m in same_size)
    return same_size[0].model_copy(
        update={
            "name": _unnamed(parameters_b),
            "parameters_b": parameters_b,
            "max_context": max(m.max_context for m in same_size),
            "source": f"the shape every listed {parameters_b:g}B model has: {names}",
        }
    )


def from_question(question: str) -> Estimate | None:
    """The arithmetic for a question about a model's memory, if it asks one: it names a
    model or a parameter count, and memory, VRAM or size, or a GPU it would run on."""
    gpu, bandwidth = find_gpu(question), bandwidth_in(question)
    asks_on_gpu = (gpu or bandwidth) and _ASKS_ON_GPU.search(question)
    if not (_ASKS_MEMORY.search(question) or asks_on_gpu):
        return None
    shape, parameters = _model_in(question)
    if parameters is None:
        return None
    precision = find_precision(question) or _precision(DEFAULT_KV_PRECISION)
    return estimate(
        parameters,
        precision,
        shape,
        context_in(question),
        batch_in(question),
        bandwidth_gbs=bandwidth,
        gpu=gpu,
        gpu_count=gpu_count(question),
    )


def _precision(name: str) -> Precision:
    found = next((p for p in PRECISIONS if p.name == name), None) or find_precision(name)
    if found is None:
        known = ", ".join(p.name for p in PRECISIONS)
        raise GuardError(f"unknown precision {name!r}; known: {known}")
    return found


def estimate_for(
    model: str,
    precision: str,
    context: int = 0,
    batch: int = 1,
    kv_precision: str = DEFAULT_KV_PRECISION,
    bandwidth_gbs: float | None = None,
    gpu: str | None = None,
) -> Estimate:
    """The arithmetic for a model (a known name or a parameter count such as '70B') at a
    precision, on a GPU if one is named; GuardError says what is wrong with an input."""
    accelerator = find_gpu(gpu) if gpu else None
    if gpu and accelerator is None:
        raise GuardError(f"unknown GPU {gpu!r}; known: {', '.join(g.name for g in GPUS)}")
    shape, parameters = _model_in(model)
    if parameters is None:
        known = ", ".join(m.name for m in MODEL_SHAPES)
        raise GuardError(
            f"unknown model {model!r}: give a parameter count like 70B, or one of {known}"
        )
    if not 0 < parameters <= MAX_PARAMETERS_B:
        raise GuardError(f"{parameters:g}B parameters is out of range")
    if not 0 <= context <= MAX_CONTEXT or batch < 1:
        raise GuardError("context must be 0 to 10,000,000 tokens and batch at least 1")
    return estimate(
        parameters,
        _precision(precision),
        shape,
        context,
        batch,
        _precision(kv_precision),
        bandwidth_gbs,
        accelerator,
        gpu_count(gpu) if gpu else 1,
    )


def _unnamed(parameters_b: float) -> str:
    """'a 70B model', 'an 8B model': the article goes by how the number is said."""
    size = f"{parameters_b:g}"
    article = "an" if re.match(r"8|1[18](?!\d)", size) else "a"
    return f"{article} {size}B model"


def _said(gpu: Gpu) -> str:
    """Whose figure the bandwidth is, second-hand ones marked as such."""
    quoted = ", as a page quoting the vendor gives it" if gpu.second_hand else ""
    return f"{gpu.name}'s peak{quoted}"


def _fits(total: float, gpu: Gpu, count: int = 1) -> Line:
    """Whether what was counted fits in the GPUs' memory together, and by how much."""
    room = count * gpu.memory_gb * GB - total
    verdict = (
        f"yes, {room / GB:,.1f} GB left for activations and overhead"
        if room >= 0
        else (f"no, {-room / GB:,.1f} GB short")
    )
    where, against = (
        (f"one {gpu.name}", f"its {gpu.memory_gb:g} GB")
        if count == 1
        else (f"{count} × {gpu.name}", f"their {count} × {gpu.memory_gb:g} GB")
    )
    return Line(
        f"Fits on {where}",
        f"{total / GB:,.1f} GB counted against {against}",
        verdict,
        [OVERHEAD_DOC],
        [gpu.url],
    )


def _inferred(shape: ModelShape) -> str:
    """Where a shape the learner did not name comes from, said in the formula."""
    return "" if shape in MODEL_SHAPES else f" ({shape.source})"


def estimate(
    parameters_b: float,
    precision: Precision,
    shape: ModelShape | None = None,
    context: int = 0,
    batch: int = 1,
    kv_precision: Precision | None = None,
    bandwidth_gbs: float | None = None,
    gpu: Gpu | None = None,
    gpu_count: int = 1,
) -> Estimate:
    """The lines of the arithmetic; a bandwidth given overrides the GPU's own. The bound
    is one GPU's: with the layers split across GPUs, each reads its share in turn."""
    kv_precision = kv_precision or _precision(DEFAULT_KV_PRECISION)
    weights = parameters_b * 1e9 * precision.bits_per_weight / 8
    lines = [
        Line(
            "Weights",
            f"{parameters_b:g} × 10⁹ parameters × {precision.bits_per_weight:g} bits "
            f"({precision.note}) ÷ 8",
            _size(weights),
            [precision.doc_id],
            [shape.url] if shape in MODEL_SHAPES else [],  # a named model's count
        )
    ]
    kv = None
    if shape and context:
        kv_bytes_per_value = kv_precision.bits_per_weight / 8
        kv = 2 * shape.layers * shape.kv_heads * shape.head_dim * context * batch
        kv *= kv_bytes_per_value
        lines.append(
            Line(
                f"KV cache ({kv_precision.name})",
                f"2 × {shape.layers} layers × {shape.kv_heads} KV heads × {shape.head_dim} "
                f"head dim{_inferred(shape)} × {context:,} tokens × {batch} × "
                f"{kv_bytes_per_value:g} bytes",
                _size(kv),
                [KV_FORMULA_DOC, kv_precision.doc_id],
                [shape.url],
            )
        )
        if context > shape.max_context:
            lines[-1].result += f"; beyond {shape.name}'s {shape.max_context:,}-token context"
    if kv is not None:
        lines.append(
            Line(
                "Total before activations and runtime overhead",
                f"{_size(weights).split(' (')[0]} + {_size(kv).split(' (')[0]}",
                _size(weights + kv),
                [OVERHEAD_DOC],
            )
        )
    total = weights + (kv or 0.0)
    bound = None
    bandwidth = bandwidth_gbs or (gpu.bandwidth_gbs if gpu else None)
    if bandwidth:
        bound = bandwidth * GB / total
        named = f" ({_said(gpu)})" if gpu and not bandwidth_gbs else ""
        lines.append(
            Line(
                "Decoding bound, one stream",
                f"{bandwidth:,g} GB/s{named} ÷ {total / GB:,.1f} GB read per token",
                f"at most {bound:,.1f} tokens/s",
                [DECODE_BOUND_DOC],
                [gpu.url] if named else [],
            )
        )
    if gpu:
        lines.append(_fits(total, gpu, gpu_count))
    return Estimate(
        shape.name if shape else _unnamed(parameters_b),
        parameters_b,
        precision.name,
        context,
        batch,
        weights,
        kv,
        bound,
        lines,
    )
