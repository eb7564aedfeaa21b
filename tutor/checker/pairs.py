"""Training pairs for the learned checker: (evidence sentence, claim, supported?).

Built from the knowledge base's own sentences in the manner of FactCC (Kryscinski et
al., 2020): a sentence backs itself, its clauses and its light rewrites; the same
sentence with one fact changed (a number, a unit, a bit width, a format, method or
model, a direction word, a negation, an absolute, a clause taken from another
sentence) does not, and neither do template non-answers, vacuous sentences or a
sentence from elsewhere. Every choice comes from one seeded random generator, so the
same sources always give the same pairs.
"""

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from tutor.text import split_sentences, strip_citations

# Names that stand in for each other: a claim that swaps one for another is not backed.
SWAPS = (
    ("int8", "int4", "fp16", "bf16", "fp32", "fp8", "nf4", "fp4"),
    ("8-bit", "4-bit", "16-bit", "2-bit", "3-bit"),
    ("q8_0", "q4_k_m", "q4_0", "q4_1", "q2_k"),
    ("gptq", "awq", "smoothquant", "qlora", "llm.int8()", "rtn"),
    ("llama-2", "llama-3"),
    ("7b", "13b", "65b", "70b", "175b", "6.7b", "8b"),
    ("gb", "mb", "gib", "tb"),
    ("hours", "days", "minutes", "weeks"),
    ("perplexity", "kl divergence", "accuracy", "throughput"),
    ("weights", "activations"),
    ("cpu", "gpu"),
    ("japanese", "english", "chinese"),
)
ANTONYMS = (
    ("higher", "lower"),
    ("more", "less"),
    ("larger", "smaller"),
    ("largest", "smallest"),
    ("increases", "decreases"),
    ("increase", "decrease"),
    ("faster", "slower"),
    ("better", "worse"),
    ("best", "worst"),
    ("above", "below"),
    ("easier", "harder"),
    ("most", "least"),
    ("improves", "degrades"),
    ("lossless", "lossy"),
    ("before", "after"),
    ("minimal", "severe"),
    ("preserve", "lose"),
    ("near-lossless", "badly degraded"),
    ("first", "last"),
    ("sensitive", "robust"),
    ("bound", "free"),
    ("can", "cannot"),
    ("typically", "never"),
)
ABSOLUTES = ("always", "never", "every", "completely", "guaranteed to be", "all")
TEMPLATES = (
    "The answer to the question of {topic} is {number}.",
    "This is an important consideration.",
    "It depends on many factors.",
    "{Topic} is an important topic in AI.",
    "There are many things to consider about {topic}.",
    "The sources discuss {topic}.",
    "{Topic} is a way of doing things.",
    "In summary, {topic} matters.",
    "The answer is {number}.",
    "Yes, that is correct.",
    "This is explained in source [1].",
    "{Topic} has a value of {number}.",
)
_NUMBER = re.compile(r"(?<![\w.\-])\d+(?:\.\d+)?(?![\w])")  # not the 3 of LLaMA-3 or Q4_0
_NEGATABLE = re.compile(r"\b(is|are|can|does|do|was|were|will|has|have)\b")
_NEGATED = re.compile(r"\b(is|are|can|does|do|was|were|will|has|have) not\b|\bcannot\b|\bno\b")


@dataclass(frozen=True)
class Pair:
    evidence: str
    claim: str
    supported: bool
    kind: str  # how it was made, for the report


def source_sentences(texts: list[str], min_chars: int = 30) -> list[str]:
    """The checkable sentences of the sources' texts: long enough to state something."""
    out = []
    for text in texts:
        out += [s for s in map(strip_citations, split_sentences(text)) if len(s) >= min_chars]
    return list(dict.fromkeys(out))


def synthetic_pairs(sentences: list[str], seed: int = 13) -> list[Pair]:
    """Every sentence with its positives and one of each negative that applies to it."""
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for sentence in sentences:
        pairs.append(Pair(sentence, sentence, True, "identity"))
        pairs += [Pair(sentence, part, True, "clause") for part in clauses(sentence)]
        pairs += [Pair(sentence, part, True, "prefix") for part in prefixes(sentence)]
        rewritten = rewrite(sentence, rng)
        if rewritten != sentence:
            pairs.append(Pair(sentence, rewritten, True, "rewrite"))
        for kind, corrupt in CORRUPTIONS:
            if kind in EASY and rng.random() > EASY_SHARE:
                continue  # learnt from a few: more of them only slow training
            claim = corrupt(sentence, rng, sentences)
            if claim and claim.lower() != sentence.lower():
                pairs.append(Pair(sentence, claim, False, kind))
    # A lead-in says nothing about support: give it to backed and unbacked claims alike.
    return [
        Pair(p.evidence, lead_in(p.claim, rng), p.supported, p.kind)
        if rng.random() < LEAD_IN_SHARE
        else p
        for p in pairs
    ]


LEAD_INS = ("According to the sources, ", "The source says that ", "In short, ", "Yes, ")
LEAD_IN_SHARE = 0.15


def lead_in(claim: str, rng: random.Random) -> str:
    return rng.choice(LEAD_INS) + claim[0].lower() + claim[1:]


def prefixes(sentence: str) -> list[str]:
    """The sentence cut after a complete first part: "X takes 4.58 GiB and has ..." backs
    "X takes 4.58 GiB"."""
    cuts = [m.start() for m in re.finditer(r",\s| and | which | so | because ", sentence)]
    out = []
    for cut in cuts[:2]:
        head = sentence[:cut].strip()
        if len(head.split()) >= 4 and head.count("(") == head.count(")"):
            out.append(head + ".")
    return out


def clauses(sentence: str) -> list[str]:
    """The halves of a compound sentence, each a sentence of its own."""
    parts = re.split(r";|, (?:while|whereas|but|and) |\. ", sentence.rstrip("."))
    parts = [p.strip() for p in parts if len(p.split()) >= 3]
    if len(parts) < 2:
        return []
    return [p[0].upper() + p[1:] + "." for p in parts]


def rewrite(sentence: str, rng: random.Random) -> str:
    """The same fact in other words: parentheticals dropped, a synonym."""
    text = re.sub(r"\s*\([^)]*\)", "", sentence)
    swaps = (
        ("about", "roughly"),
        ("uses", "needs"),
        ("takes", "needs"),
        ("shows", "finds"),
        ("reduces", "cuts"),
        ("approximately", "about"),
        ("large", "big"),
    )
    for old, new in swaps:
        if re.search(rf"\b{old}\b", text) and rng.random() < 0.5:
            text = re.sub(rf"\b{old}\b", new, text, count=1)
    return text


# -- corruptions: one fact changed ---------------------------------------------------------


def swap_number(sentence: str, rng: random.Random, _) -> str | None:
    numbers = list(_NUMBER.finditer(sentence))
    if not numbers:
        return None
    match = rng.choice(numbers)
    value = match.group(0)
    others = [m.group(0) for m in numbers if m.group(0) != value]
    if others and rng.random() < 0.5:
        new = rng.choice(others)  # a figure from the same sentence, bound to the wrong thing
    else:
        number = float(value)
        factor = rng.choice((2, 0.5, 3, 10))
        new = f"{number * factor:.{len(value.split('.')[1]) if '.' in value else 0}f}"
        if new == value:
            new = str(int(number) + 1)
    return sentence[: match.start()] + new + sentence[match.end() :]


def swap_numbers_within(sentence: str, rng: random.Random, _) -> str | None:
    """Two figures of one sentence trade places: right numbers, wrong relations."""
    numbers = [m for m in _NUMBER.finditer(sentence)]
    distinct = {m.group(0) for m in numbers}
    if len(distinct) < 2:
        return None
    first, second = rng.sample(numbers, 2)
    if first.group(0) == second.group(0):
        return None
    a, b = sorted((first, second), key=lambda m: m.start())
    return (
        sentence[: a.start()]
        + b.group(0)
        + sentence[a.end() : b.start()]
        + a.group(0)
        + sentence[b.end() :]
    )


def swap_name(sentence: str, rng: random.Random, _) -> str | None:
    options = []
    lower = sentence.lower()
    for group in SWAPS:
        for name in group:
            for match in re.finditer(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", lower):
                options.append((match, [n for n in group if n != name]))
    if not options:
        return None
    match, others = rng.choice(options)
    new = rng.choice(others)
    original = sentence[match.start() : match.end()]
    if original.isupper():
        new = new.upper()
    return sentence[: match.start()] + new + sentence[match.end() :]


def swap_antonym(sentence: str, rng: random.Random, _) -> str | None:
    options = []
    for a, b in ANTONYMS:
        for word, other in ((a, b), (b, a)):
            for match in re.finditer(rf"\b{re.escape(word)}\b", sentence, re.IGNORECASE):
                options.append((match, other))
    if not options:
        return None
    match, other = rng.choice(options)
    if sentence[match.start()].isupper():
        other = other[0].upper() + other[1:]
    return sentence[: match.start()] + other + sentence[match.end() :]


def negate(sentence: str, rng: random.Random, _) -> str | None:
    if _NEGATED.search(sentence):  # take the negation away instead
        return _NEGATED.sub(
            lambda m: m.group(1) or ("can" if m.group(0) == "cannot" else ""), sentence, count=1
        ).replace("  ", " ")
    match = _NEGATABLE.search(sentence)
    if match is None:
        return None
    return sentence[: match.end()] + " not" + sentence[match.end() :]


def add_absolute(sentence: str, rng: random.Random, _) -> str | None:
    if re.search(r"\b(always|never|every|all|completely|guaranteed)\b", sentence, re.I):
        return None
    match = _NEGATABLE.search(sentence)
    if match is None:
        return None
    word = rng.choice(ABSOLUTES[:2] + ("completely", "guaranteed to be"))
    return sentence[: match.end()] + f" {word}" + sentence[match.end() :]


def recombine(sentence: str, rng: random.Random, sentences: list[str]) -> str | None:
    """This sentence's subject with another sentence's predicate."""
    head = re.match(r"(.{12,}?)\b(is|are|uses|needs|keeps|reaches|loses|has|gives)\b", sentence)
    if head is None:
        return None
    donors = [s for s in _with_word(head.group(2), tuple(sentences)) if s != sentence]
    if not donors:
        return None
    donor = rng.choice(donors)
    tail = donor[re.search(rf"\b{head.group(2)}\b", donor).start() :]
    return head.group(1) + tail


@lru_cache(maxsize=16)
def _with_word(word: str, sentences: tuple[str, ...]) -> list[str]:
    """The sentences using a word: found once per word, not once per sentence and word."""
    return [s for s in sentences if re.search(rf"\b{word}\b", s)]


# What a small model tacks onto a copied sentence: true-sounding, backed by nothing.
TACKED_ON = (
    "which is a benchmark for quantization quality",
    "which makes it the best choice for every workload",
    "and it can be used as a model for hard tasks",
    "which is a significant improvement over the original model",
    "so it is always lossless",
    "because the model is more accurate",
    "which is why it is used in every large language model",
    "while easy tasks fall off the cliff",
    "and it was introduced by Google in 2019",
    "which is a measure of how confident the model is",
)


def append_clause(sentence: str, rng: random.Random, sentences: list[str]) -> str:
    """The sentence with an unbacked clause after it: its own words, then a claim of none."""
    if rng.random() < 0.5:
        donor = rng.choice([s for s in sentences if s != sentence] or [sentence])
        words = donor.rstrip(".").split()
        tail = "which " + " ".join(words[len(words) // 2 :])
    else:
        tail = rng.choice(TACKED_ON)
    return f"{sentence.rstrip('.')}, {tail}."


def drop_qualifier(sentence: str, rng: random.Random, _) -> str | None:
    """A figure cut loose from what it is about: "... was 1.014 for LLaMA-2" -> "... was 1.014"."""
    phrases = list(re.finditer(r"\s(?:for|on|in|of|with|at|from|by|under|against)\s", sentence))
    if not phrases:
        return None
    last = phrases[-1]
    head, tail = sentence[: last.start()], sentence[last.start() :]
    if not _NUMBER.search(head) or not re.search(r"[A-Z0-9]", tail) or re.search(r"[,;]", tail):
        return None
    return head.rstrip(",") + "."


def garble_name(sentence: str, rng: random.Random, _) -> str | None:
    """A name cut short or misspelt, as small models do: "QLoRA" -> "QL", "GGUF" -> "GGF"."""
    names = [
        m for m in re.finditer(r"\b[A-Za-z][A-Za-z0-9_.-]*[A-Z0-9][A-Za-z0-9_.-]*\b", sentence)
    ]
    names = [m for m in names if len(m.group(0)) >= 4]
    if not names:
        return None
    match = rng.choice(names)
    name = match.group(0)
    if rng.random() < 0.5:
        new = name[: max(2, len(name) // 2)]
    else:
        cut = rng.randrange(1, len(name) - 1)
        new = name[:cut] + name[cut + 1 :]
    return sentence[: match.start()] + new + sentence[match.end() :]


def template(sentence: str, rng: random.Random, _) -> str:
    words = [w for w in re.findall(r"[A-Za-z][\w.()-]+", sentence) if len(w) > 3]
    topic = " ".join(words[:2]) if words else "quantization"
    numbers = _NUMBER.findall(sentence) or ["3"]
    text = rng.choice(TEMPLATES).format(
        topic=topic, Topic=topic[0].upper() + topic[1:], number=rng.choice(numbers)
    )
    return text


def unrelated(sentence: str, rng: random.Random, sentences: list[str]) -> str:
    return rng.choice([s for s in sentences if s != sentence] or [sentence])


def echo_yes(sentence: str, rng: random.Random, sentences: list[str]) -> str | None:
    """A false premise repeated: "Yes, " and the sentence with one fact changed."""
    for corrupt in (swap_antonym, negate, swap_name):
        changed = corrupt(sentence, rng, sentences)
        if changed and changed != sentence:
            return f"Yes, {changed[0].lower()}{changed[1:]}"
    return None


EASY = frozenset({"template", "unrelated"})
EASY_SHARE = 0.3
CORRUPTIONS: tuple[tuple[str, Callable], ...] = (
    ("number", swap_number),
    ("numbers-within", swap_numbers_within),
    ("name", swap_name),
    ("antonym", swap_antonym),
    ("negation", negate),
    ("absolute", add_absolute),
    ("recombined", recombine),
    ("template", template),
    ("unrelated", unrelated),
    ("echoed-premise", echo_yes),
    ("tacked-on", append_clause),
    ("qualifier-dropped", drop_qualifier),
    ("garbled-name", garble_name),
)


def batches(pairs: list[Pair], size: int, rng: random.Random) -> Iterator[list[Pair]]:
    order = list(range(len(pairs)))
    rng.shuffle(order)
    for start in range(0, len(order), size):
        yield [pairs[i] for i in order[start : start + size]]
