"""Retrieval-augmented answers: numbered sources, their best sentences first, the prompt."""

import re

import numpy as np

from knowledge.embeddings import embed_query
from knowledge.index import Chunk, Hit
from knowledge.terms import search_terms
from tutor.answer import Sentence, SourceRef
from tutor.memory import find_model, sizes_in
from tutor.text import split_sentences
from tutor.verify import Verdict, Verifier

# The answering sentence often ranks 7th or 8th behind close paraphrases of the question;
# 8 found it for 475 of 520 calibration field questions, 6 for 462.
LEAD_SENTENCES = 8
LEAD_POOL_CHUNKS = 4  # the lead reads one chunk more than the prompt: answers often sit just below
# Further down, only the sentences that answer one of the sources' own questions: a learner's
# question worded like one of them finds its answer in a chunk worded unlike the question.
LEAD_ANSWER_CHUNKS = 20
# A question worded like one of them (cosine 0.75) brings the chunk holding its answer however
# low that chunk ranks on its own words, from a document none of the 20 best chunks is from:
# those for "load_in_8bit is slow af, why" miss LLM.int8()'s overhead. Held-out field
# questions 566 -> 571 of 648. (From any document: 4 more, but a document already found
# then crowds its own best sentences: the answer benchmark loses LLaMA-3's ratio.)
ASKED_ALIKE = 0.75
LEAD_MIN_SCORE = 0.35  # below this a source sentence does not answer the question
HIT_WEIGHT = 0.6  # a sentence of a chunk far below the best one rarely answers the question
TERM_WEIGHT = 0.3  # exact terms shared with the question ("Q4_K_M", "Japanese", "AWQ")
FIGURE_WEIGHT = 0.1  # a question after a quantity is best answered by a sentence with one
# and one after a formula by a sentence with an equation or an operator (0.2: the learner
# questions on what a scale and a zero point are raised their definitions above the
# quantize equation at 0.1; the field sets are the same at either)
FORMULA_WEIGHT = 0.2
REPEAT_WEIGHT = 0.3  # a sentence that restates one already chosen adds little: make room
PROMPT_CHUNK_CHARS = 500  # keeps the prompt, and so the prefill, short
PROMPT_SCORE_MARGIN = 0.15  # a hit further below the best one stays out of the prompt

# What each system prompt asks for: a draft stops once it has this many sentences.
DRAFT_SENTENCES = {"answer": 3, "explain": 4}
SYSTEM_PROMPTS = {
    "answer": (
        "You are a tutor for AI model quantization. Answer in 2 or 3 short sentences, "
        "using only the numbered sources, and cite them like [1]."
    ),
    "explain": (
        "You are a patient tutor. Explain the topic to a beginner in 3 or 4 plain sentences, "
        "using only the numbered sources, and cite them like [1]."
    ),
}

# "The NF4 details are covered in qlora-nf4-double-quant.md.": a pointer, not an answer.
_POINTS_ELSEWHERE = re.compile(r"\b[\w-]+\.md\b")
# "GPTQ was published by Frantar … in 2022 and presented at ICLR 2023": who and when, which
# shares the method's name with "how does GPTQ work?" but answers only a question about its
# origin.
_PROVENANCE = re.compile(
    r"\b(?:was|were) (?:first )?(?:published|introduced|proposed|posted|presented)\b|"
    r"\barXiv:\d|\baccepted (?:as|at)\b",
    re.IGNORECASE,
)
_ASKS_FOR_PROVENANCE = re.compile(
    r"\b(?:who|when|year|paper|published|arxiv|authors?|introduced|proposed|invented|"
    r"came out|history|origin)\b",
    re.IGNORECASE,
)
_ASKS_FOR_FIGURE = re.compile(
    r"how (many|much|big|fast|large)|perplexity|score|ratio|drop|percent|%|\bgb\b|memory|"
    r"bits? per|figure|number|size|speed|accuracy|find|result",
    re.IGNORECASE,
)

_ASKS_FOR_FORMULA = re.compile(r"formula|equation|comput|calculat|work(ed)? out", re.IGNORECASE)
_FORMULA = re.compile(r"[=×÷]|\w \* \w|\w / \w|\bround\(")

# What a question takes for granted: "So X, right?", "Since X, how ...?", "Why is X ...?",
# "X, so why ...?", "X, how did they ...?", "X right? so ...", "X, yes?".
_ASKING = (
    r"(?:why|how|what|which|when|who|where|should|shall|do|does|did|is|are|can|could|would|will)"
)
_PIVOT = r"\s*(?:[,;.]|—|–|\s-)\s*"  # where the premise ends and the question begins
_PREMISES = (
    re.compile(
        r"^(?:so|since|given that|because|now that|as)\b,?\s*(?P<premise>[^?]+?)\s*(?:,|\?|$)",
        re.IGNORECASE,
    ),
    re.compile(
        r"^(?P<premise>[^?]+?),?\s+(?:right|correct|true|yes|isn't it|aren't they|no)\s*[?,]",
        re.IGNORECASE,
    ),
    re.compile(rf"^(?P<premise>[^?]+?){_PIVOT}(?:and\s+)?(?:so|then|therefore)\b", re.IGNORECASE),
    re.compile(rf"^(?P<premise>[^?]+?){_PIVOT}{_ASKING}\b[^?]*\?", re.IGNORECASE),
    re.compile(r"^why (?P<verb>is|are|does|do|did|can) (?P<premise>[^?]+)", re.IGNORECASE),
)
_QUESTION_START = re.compile(rf"^{_ASKING}\b", re.IGNORECASE)
_LEAD = re.compile(r"^(?:so|since|given that|because|now that|as)\b,?\s*", re.IGNORECASE)
_ASIDE = re.compile(r"\s*\([^)]*\)")  # "(1.028 vs 1.014)": the premise reads without it
PREMISE_MIN_WORDS = 2


def premises_of(question: str) -> list[str]:
    """The claims a question assumes, as sentences the verifier can check."""
    found = []
    for pattern in _PREMISES:
        match = pattern.search(question.strip())
        if not match or len(match.group("premise").split()) < PREMISE_MIN_WORDS:
            continue
        premise = _LEAD.sub("", _ASIDE.sub("", match.group("premise"))).strip(" ,.")
        verb = (match.groupdict().get("verb") or "").lower()
        if verb in ("is", "are"):  # "why is int4 lossless" assumes "int4 is lossless"
            subject, _, rest = premise.partition(" ")
            premise = f"{subject} {verb} {rest}"
        elif not verb and _QUESTION_START.match(premise):
            continue  # "how much is it, right?" assumes nothing checkable
        sentence = premise[0].upper() + premise[1:] + "."
        if sentence not in found:
            found.append(sentence)
    return found


# How an answer opens when its question assumes what the sources deny, or overstate.
_PREMISE_VERDICTS = {
    "contradicted": "the sources disagree",
    "overbroad": "the sources do not go that far",
}


# The oppositions that may correct what a question assumes; a correction says the learner
# is wrong, so only those the rules rarely get wrong. A bare number ("my 3090", "ppl of
# 19.4") is the learner's own, not a figure the sources could give. A "why" question mostly
# asks about what a source says, where the rules can read a paraphrase as its opposite ("KIVI
# quantizes the value cache per token" against "…no such channel structure, so KIVI
# quantizes the value cache per token"), and a source's figure as about the asker's.
_CORRECTABLE = frozenset({"misconception", "number", "name", "polarity", "absolute"})
_CORRECTABLE_WHY = frozenset({"misconception", "name", "absolute"})
# "i quantized … and my ppl is 19.4": what the asker did and saw, no source can deny; also
# typed without the "i" ("turned on the fp8 kv cache …", "ran llama-server …"), which
# "quantized models are …" is not
_OWN_SITUATION = re.compile(
    r"\b(?:i|i'm|im|i've|ive|my|me|we|our|us)\b|"
    r"^(?:ran|got|made|did|took|built|saw)\b|"
    r"^\w+ed (?:on|off|up|out|the|a|an|it|this|that|some|with|to|into|from|in)\b",
    re.IGNORECASE,
)


def premise_correction(premise: str, verdict: Verdict, asks_why: bool) -> Sentence | None:
    """The sentence that opens an answer whose question assumes what the sources deny or
    do not go as far as; None when the sources do neither, or the opposition is one that
    may not correct a question of its kind (`asks_why`: it opens with "why")."""
    correctable = _CORRECTABLE_WHY if asks_why else _CORRECTABLE
    if (
        verdict.status not in _PREMISE_VERDICTS
        or verdict.conflict not in correctable
        or _OWN_SITUATION.search(premise)
    ):
        return None
    first = premise.split()[0]
    # "So GPTQ needs …" keeps its name: only a plain capitalised word ("Int8") is lowered
    assumed = premise[0].lower() + premise[1:-1] if first[1:].islower() else premise[:-1]
    text = f"The question assumes that {assumed}, but {_PREMISE_VERDICTS[verdict.status]}: "
    evidence = verdict.evidence
    citations = [] if evidence is None else [evidence + 1]
    # The reason ends with its citation ("… [2]"); the sentence shows it once, as its own.
    text += verdict.reason.removesuffix(f" [{evidence + 1}]" if citations else "")
    return Sentence(text, "supported", 1.0, citations, origin="source")


def unmentioned(names: list[str]) -> Sentence:
    """Says first that the sources never name what the question names, so the source
    sentences under it are not taken as being about it (TFLite, rsLoRA)."""
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    text = f"My sources never mention {listed}: what follows is what they say about the rest."
    return Sentence(text, "supported", 1.0, [], origin="source")


def number_sources(hits: list[Hit]) -> list[SourceRef]:
    return [
        SourceRef(
            n=i,
            title=hit.chunk.title,
            source=hit.chunk.source,
            quote=split_sentences(hit.chunk.text)[0] if hit.chunk.text.strip() else "",
            url=hit.chunk.url,
            doc_id=hit.chunk.doc_id,
        )
        for i, hit in enumerate(hits, start=1)
    ]


def closest_sentence(about: str, chunks: list[Chunk], verifier: Verifier) -> str:
    """The chunks' sentence closest in meaning to `about`, passing over pointers to other
    documents ("… as memory-bandwidth-decoding.md explains")."""
    texts, rows = [], []
    for chunk in chunks:
        sentences, vectors = verifier.chunk_sentences(chunk)
        for text, vector in zip(sentences, vectors):
            if not _POINTS_ELSEWHERE.search(text):
                texts.append(text)
                rows.append(vector)
    if not texts:
        return split_sentences(chunks[0].text)[0]
    return texts[int(np.argmax(np.array(rows) @ np.asarray(embed_query(about))))]


def with_answering_chunks(
    hits: list[Hit],
    chunks: list[Chunk],
    closeness: dict[tuple[str, str], float],
    verifier: Verifier,
) -> list[Hit]:
    """The hits, then each chunk of a document not among them that holds the answer to a
    source question asked within ASKED_ALIKE of this one, scored as the best hit: the
    question's wording, not the chunk's, is what matched. No hits, no best score to give:
    a memory question the sources do not cover is answered by its arithmetic alone."""
    if not hits:
        return hits
    asked = {key for key, score in closeness.items() if score >= ASKED_ALIKE}
    documents = {doc_id for doc_id, _ in asked} - {hit.chunk.doc_id for hit in hits}
    present = {hit.chunk.chunk_id for hit in hits}
    best = max(hit.score for hit in hits)
    return hits + [
        Hit(chunk, best, 0.0, 0.0)
        for chunk in chunks
        if chunk.doc_id in documents
        and chunk.chunk_id not in present
        and any((chunk.doc_id, text) in asked for text in verifier.chunk_sentences(chunk)[0])
    ]


def lead_sentences(
    question: str,
    hits: list[Hit],
    sources: list[SourceRef],
    verifier: Verifier,
    closeness: dict[tuple[str, str], float],
) -> list[Sentence]:
    """The source sentences that best answer the question, cited; supported by construction.

    A sentence scores by its meaning (its own, or that of the closest source question it
    answers: `closeness`, from KnowledgeIndex.answer_closeness) and terms, less how far
    its chunk ranks below the best one: a sentence alone misses the heading and context
    that made its chunk match ("Human raters saw a drop of 16.0%" under "Japanese: -1.7%
    versus -16.0%").
    Each sentence picked lowers the rank of those that restate it, so the opening's
    sentences say different things. A sentence about a model of another size than the
    question asks after is left out.
    The quote shown for a source becomes the sentence taken from it, so the learner
    sees exactly which line backs each citation. The sentences' embeddings are the
    verifier's, made once at start.
    """
    candidates, rows, below_best = [], [], []
    best = max((hit.score for hit in hits), default=0.0)
    named = find_model(question)  # "mixtral" says 47B without the number
    asked_sizes = sizes_in(question) or ({named.parameters_b} if named else set())
    answering = []  # per candidate: how close the question is to a source question it answers
    origin_asked = bool(_ASKS_FOR_PROVENANCE.search(question))
    for n, hit in enumerate(hits, start=1):
        texts, vectors = verifier.chunk_sentences(hit.chunk)
        heading_sizes = sizes_in(f"{hit.chunk.title} {hit.chunk.section}")
        for text, vector in zip(texts, vectors):
            answers = closeness.get((hit.chunk.doc_id, text))
            if (
                len(text) > 25
                and (n <= LEAD_POOL_CHUNKS or answers is not None)
                and not _POINTS_ELSEWHERE.search(text)
                and (origin_asked or not _PROVENANCE.search(text))
                and not _about_other_model(asked_sizes, sizes_in(text) or heading_sizes)
            ):
                candidates.append((n, text))
                rows.append(vector)
                below_best.append(best - hit.score)
                answering.append(-1.0 if answers is None else answers)
    if not candidates:
        return []
    vectors = np.array(rows)
    meaning = np.maximum(vectors @ np.asarray(embed_query(question)), answering)
    terms = set(search_terms(question))
    wants_figure = bool(_ASKS_FOR_FIGURE.search(question))
    wants_formula = bool(_ASKS_FOR_FORMULA.search(question))
    scores = [
        m
        + TERM_WEIGHT * _overlap(terms, text)
        + (FIGURE_WEIGHT if wants_figure and re.search(r"\d", text) else 0.0)
        + (FORMULA_WEIGHT if wants_formula and _FORMULA.search(text) else 0.0)
        for m, (_, text) in zip(meaning, candidates)
    ]
    ranked = [score - HIT_WEIGHT * gap for score, gap in zip(scores, below_best)]
    remaining = [i for i in range(len(candidates)) if scores[i] >= LEAD_MIN_SCORE]
    picked: list[int] = []
    while remaining and len(picked) < LEAD_SENTENCES:
        novel = [ranked[i] - REPEAT_WEIGHT * _repeats(i, picked, vectors) for i in remaining]
        picked.append(remaining.pop(int(np.argmax(novel))))
    chosen = [
        Sentence(
            candidates[i][1],
            "supported",
            round(float(scores[i]), 3),
            [candidates[i][0]],
            origin="source",
        )
        for i in picked
    ]
    for sentence in reversed(chosen):  # the best sentence of each source is its quote
        sources[sentence.citations[0] - 1].quote = sentence.text
    return chosen


def keep_cited(sources: list[SourceRef], lead: list[Sentence], shown: int) -> list[SourceRef]:
    """The first `shown` sources (the prompt's) and those the lead cites beyond them,
    renumbered in order, the lead's citations with them: "[4]", not "[17]"."""
    cited = {n for sentence in lead for n in sentence.citations}
    kept = [s for s in sources if s.n <= shown or s.n in cited]
    number = {source.n: new for new, source in enumerate(kept, start=1)}
    for source in kept:
        source.n = number[source.n]
    for sentence in lead:
        sentence.citations = [number[n] for n in sentence.citations]
    return kept


def _about_other_model(asked_sizes: set[float], sizes: set[float]) -> bool:
    """Whether a sentence is about a model of another size than the question asks after:
    the sizes it names, or where it names none, those of its chunk's heading (sizes
    within a tenth are one: Llama-3-70B has 70.6B parameters).

    A sentence naming no size reads as about the asked model: "A 131,072-token context
    needs 40 GiB of KV cache" from a 70B worked example, in an answer about 8B.
    """
    same = any(abs(a - b) <= 0.1 * max(a, b) for a in asked_sizes for b in sizes)
    return bool(asked_sizes and sizes and not same)


def _repeats(i: int, picked: list[int], vectors: np.ndarray) -> float:
    """How closely candidate i restates the closest sentence already picked (cosine)."""
    return float(max(vectors[picked] @ vectors[i])) if picked else 0.0


def _overlap(terms: set[str], text: str) -> float:
    return len(terms & set(search_terms(text))) / len(terms) if terms else 0.0


def build_messages(question: str, hits: list[Hit], system: str) -> list[dict]:
    """The prompt: the system prompt, then only the best hits, numbered as the sources are.

    Hits far below the best add prefill time (most of a short answer's latency) and
    rarely anything the best one lacks.
    """
    best = max(hit.score for hit in hits)
    numbered = "\n".join(
        f"[{n}] {hit.chunk.text[:PROMPT_CHUNK_CHARS]}"
        for n, hit in enumerate(hits, start=1)
        if hit.score >= best - PROMPT_SCORE_MARGIN
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Sources:\n{numbered}\n\nQuestion: {question}"},
    ]


def not_covered_message(question: str, titles: list[str]) -> str:
    sample = ", ".join(titles[:6])
    return (
        "I could not find that in my sources, so I will not guess. "
        f"My knowledge base covers: {sample}, and more. "
        "Try asking about int8 vs 4-bit memory, NF4, LLM.int8() outliers, GPTQ or AWQ, "
        "perplexity, or where quality breaks."
    )


OFF_TOPIC_MESSAGE = (
    "I am a tutor for AI model quantization (8-bit, 4-bit, and where quality breaks), "
    "so I will stay on that. Ask me, for example, “How much memory does a 7B model need in "
    "int8?” or “What is NF4?”"
)
