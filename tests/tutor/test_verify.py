"""The verifier on the real packaged sources, the real embedding model and the trained
checker, as the tutor runs it."""

import pytest

from knowledge import embeddings
from knowledge.documents import PACKAGED_SOURCES, Chunk, chunk_document, load_documents
from tutor import verify
from tutor.checker import ensure_checker
from tutor.verify import Verdict, Verifier, profile


@pytest.fixture(scope="module")
def chunks() -> list[Chunk]:
    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    return [chunk for doc in documents for chunk in chunk_document(doc)]


@pytest.fixture(scope="module")
def verifier(chunks: list[Chunk], settings) -> Verifier:
    return Verifier(chunks, checker=ensure_checker(settings.cache_dir, progress=False))


@pytest.fixture(scope="module")
def rules(chunks: list[Chunk]) -> Verifier:
    """The explainable checks alone, for tests about them rather than the learned checker
    (which, retrained on 123 documents, passes fewer faithful paraphrases)."""
    return Verifier(chunks, checker=None)


def status_of(verifier: Verifier, claim: str) -> str:
    return verifier.check_claim(claim)[0].status


@pytest.mark.parametrize(
    "claim",
    [
        "Int8 is typically lossless, while int4 hits noticeable quality cliffs on hard tasks.",
        "A 7B model needs about 14 GB for its weights in fp16.",
        "Q4_0 LLaMA-3-8B has a perplexity of 6.7001.",
        "Double quantization cuts the scale overhead from 0.5 to 0.127 bits per parameter.",
        "GPTQ needs no retraining.",
    ],
)
def test_a_source_sentence_is_supported(verifier: Verifier, claim: str) -> None:
    verdict, evidence = verifier.check_claim(claim)
    assert verdict.status == "supported", verdict.reason
    assert not verdict.flagged
    assert verdict.evidence is not None and evidence[verdict.evidence]


def test_a_paraphrase_of_a_source_sentence_is_supported(verifier: Verifier) -> None:
    assert status_of(verifier, "An int8 weight occupies a single byte.") == "supported"
    assert status_of(verifier, "AWQ works without backpropagation.") == "supported"


@pytest.mark.parametrize(
    ("claim", "given"),
    [
        ("Q4_0 LLaMA-3-8B has a perplexity of 6.23.", "6.7001"),
        ("A 7B model needs about 28 GB for its weights in fp16.", "14 gb"),
        ("AWQ protects about 10% of salient weight channels.", "1%"),
    ],
)
def test_a_different_number_is_contradicted(verifier: Verifier, claim: str, given: str) -> None:
    verdict, _ = verifier.check_claim(claim)
    assert verdict.status == "contradicted"
    assert given in verdict.reason.lower()


def test_a_different_bit_width_is_contradicted(verifier: Verifier) -> None:
    verdict, _ = verifier.check_claim("NF4 is an 8-bit data type.")
    assert verdict.status == "contradicted"
    assert "4-bit" in verdict.reason


def test_a_contradiction_quotes_the_source_sentence_so_the_learner_can_judge_it(
    verifier: Verifier,
) -> None:
    verdict, _ = verifier.check_claim("A 7B model needs about 28 GB for its weights in fp16.")
    assert verdict.status == "contradicted"
    assert "not 28 gb: “" in verdict.reason.lower() and "14 GB" in verdict.reason


def test_a_width_swapped_within_one_clause_of_a_compound_sentence_is_contradicted(
    verifier: Verifier, chunks: list[Chunk]
) -> None:
    """The source names int8 and int4, one per clause; moving 'lossless' to int4 is wrong
    even though the sentence as a whole names the same widths as the source."""
    lesson = [c for c in chunks if c.doc_id == "lesson-premise.md"]
    claim = (
        "The lesson says int4 is typically lossless, while int4 hits noticeable quality "
        "cliffs on hard tasks."
    )
    verdict = verifier.check([claim], lesson)[0]
    assert verdict.status == "contradicted"
    assert "8-bit, not 4-bit" in verdict.reason


@pytest.mark.parametrize(
    "claim",
    [
        "Lower perplexity means a worse model.",  # direction flipped
        "LLaMA-2 is more sensitive to quantization than LLaMA-3.",  # comparison swapped
        "GPTQ requires retraining the model.",  # negation dropped
        "int4 matches full quality on hard reasoning.",  # a known misconception
    ],
)
def test_the_opposite_of_a_source_is_contradicted(verifier: Verifier, claim: str) -> None:
    assert status_of(verifier, claim) == "contradicted"


@pytest.mark.parametrize(
    "claim",
    [
        "Quantization is always lossless for every model.",
        "int8 is lossless at every bit width and for any task.",
        "4-bit works for every task.",
    ],
)
def test_sweeping_wording_is_overbroad(verifier: Verifier, claim: str) -> None:
    verdict, _ = verifier.check_claim(claim)
    assert verdict.status == "overbroad"
    assert "further than the source" in verdict.reason


@pytest.mark.parametrize(
    "claim",
    [
        "GGUF files store the tokenizer alongside the quantized weights.",
        "The moon is made of cheese.",
    ],
)
def test_an_invented_fact_is_uncertain(verifier: Verifier, claim: str) -> None:
    verdict, _ = verifier.check_claim(claim)
    assert verdict.status == "uncertain"
    assert verdict.evidence is None
    assert verdict.flagged


def test_citation_markers_are_ignored(verifier: Verifier) -> None:
    plain, _ = verifier.check_claim("A 7B model needs about 14 GB for its weights in fp16.")
    marked, _ = verifier.check_claim("A 7B model needs about 14 GB for its weights in fp16 [2].")
    assert (marked.status, marked.score) == (plain.status, plain.score)
    assert marked.text.endswith("[2].")
    assert profile("6.70 [3] is not 6.23 [1]").numbers == profile("6.70 is not 6.23").numbers


def test_check_judges_each_sentence_against_the_given_evidence(
    rules: Verifier, chunks: list[Chunk]
) -> None:
    evidence = [c for c in chunks if c.doc_id == "llama-cpp-perplexity-kld.md"]
    verdicts = rules.check(
        [
            "Q4_K_M takes 4.58 GiB [2].",
            "Q4_K_M has a perplexity of 6.23 [2].",
            "NF4 was designed by a team at Google.",
        ],
        evidence,
    )
    assert [v.status for v in verdicts] == ["supported", "contradicted", "uncertain"]
    assert "Q4_K_M" in evidence[verdicts[0].evidence].text
    assert verdicts[1].reason.endswith(f"[{verdicts[1].evidence + 1}]")


def test_check_without_evidence_leaves_everything_uncertain(verifier: Verifier) -> None:
    verdicts = verifier.check(["Int8 is typically lossless."], [])
    assert [v.status for v in verdicts] == ["uncertain"]
    assert verifier.check([], []) == []


def test_check_accepts_evidence_outside_the_knowledge_base(rules: Verifier) -> None:
    note = Chunk(
        text="The house model runs in 3.1 GB at Q5_K_S on the lab server.",
        doc_id="user-note.md",
        title="Lab notes",
        source="a moderator",
    )
    supported, contradicted = rules.check(
        [
            "The house model takes 3.1 GB on the lab server.",
            "The house model takes 9 GB on the lab server.",
        ],
        [note],
    )
    assert (supported.status, supported.evidence) == ("supported", 0)
    assert contradicted.status == "contradicted"


def test_a_verdict_is_flagged_unless_supported() -> None:
    assert not Verdict("x", "supported", 0.9, "", 0).flagged
    for status in ("uncertain", "overbroad", "contradicted"):
        assert Verdict("x", status, 0.1, "", None).flagged


def test_scores_stay_between_zero_and_one(verifier: Verifier) -> None:
    for claim in ("Int8 is typically lossless.", "The moon is made of cheese.", "NF4 is 8-bit."):
        verdict, evidence = verifier.check_claim(claim)
        assert 0.0 <= verdict.score <= 1.0
        assert len(evidence) >= 1


def test_a_hedged_source_does_not_back_an_absolute_claim(rules):
    source = "The lesson says int8 is typically lossless, not always lossless."
    hedged, absolute = rules.check(
        ["int8 is not always lossless.", "int8 is always lossless."],
        [Chunk(source, "lesson-premise.md", "The lesson's premise", "The lesson")],
    )
    assert hedged.status == "supported"
    assert absolute.status == "overbroad"


@pytest.mark.parametrize(
    ("claim", "source"),
    [  # a verb that denies, and a negation typed without its apostrophe
        ("HQQ needs no calibration data.", "HQQ skips the need for calibration data."),
        ("Min-max range setting avoids clipping.", "Min-max range setting has no clipping error."),
        ("The hqq save wont load in transformers.", "Such hqq saves do not load in transformers."),
    ],
)
def test_a_negation_worded_otherwise_is_not_read_as_the_opposite(rules, claim, source):
    (verdict,) = rules.check([claim], [Chunk(source, "hqq.md", "HQQ", "HQQ")])
    assert verdict.status != "contradicted", verdict.reason


def test_the_sentence_embeddings_are_cached_until_the_sources_change(chunks, tmp_path, monkeypatch):
    cache = tmp_path / "verifier-vectors.npz"
    first = Verifier(chunks[:6], cache)
    embedded = []
    original = embeddings.embed
    monkeypatch.setattr(
        embeddings, "embed", lambda texts: embedded.append(len(texts)) or original(texts)
    )
    again = Verifier(chunks[:6], cache)
    assert embedded == []  # the sentences came from the cache
    assert (again._vectors == first._vectors).all()
    Verifier(chunks[:7], cache)  # another source: its sentences are embedded afresh...
    assert len(embedded) == 1 and embedded[0] > len(first._vectors)
    Verifier(chunks[:7], cache)  # ...and cached for the next start
    assert len(embedded) == 1


# -- what the word lists miss and the checker catches ------------------------------------


@pytest.mark.parametrize(
    ("draft", "source"),
    [  # sentences the packaged model wrote: a source copied, with one thing wrong
        (
            "NF4 stands for 4-bit NormalFloat, a 4-bit data type introduced by QL.",
            "qlora-nf4-double-quant.md",
        ),
        (
            "The Kurtic study found 4-bit weight-only quantization competitive, which is a "
            "benchmark for quantization quality.",
            "kurtic-bf16-or-death.md",
        ),
        ("Q2_K has a KL divergence of 0.", "llama-cpp-perplexity-kld.md"),
    ],
)
def test_a_copied_source_with_one_thing_wrong_is_not_supported(verifier, chunks, draft, source):
    evidence = [c for c in chunks if c.doc_id == source]
    verdict = verifier.check([draft], evidence, "a learner's question")[0]
    assert verdict.flagged, verdict.reason


def test_a_faithful_draft_sentence_stays_supported(verifier, chunks):
    evidence = [c for c in chunks if c.doc_id == "gptq.md"]
    sentence = "GPTQ quantizes a 175B model to 3-4 bits in about 4 GPU hours."
    verdict = verifier.check([sentence], evidence, "how long does gptq take?")[0]
    assert verdict.status == "supported", verdict.reason


@pytest.mark.parametrize(
    ("sentence", "source"),
    [  # copied whole by the packaged model; the checker alone scored them under its bar
        ("LLM.int8() is implemented in the bitsandbytes library.", "llm-int8-outliers.md"),
        (
            "Q2_K picks the same top token as F16 only 71.1% of the time",
            "llama-cpp-perplexity-kld.md",
        ),
    ],
)
def test_a_source_sentence_copied_whole_is_supported(verifier, chunks, sentence, source):
    evidence = [c for c in chunks if c.doc_id == source]
    verdict = verifier.check([sentence], evidence, "a learner's question")[0]
    assert verdict.status == "supported", verdict.reason


@pytest.mark.parametrize(
    ("sentence", "question", "reason"),
    [
        ("The answer to the question of how many bits is 2.", "", "stock phrase"),
        ("This is an important consideration.", "", "stock phrase"),
        ("A: 2022", "", "stock phrase"),
        ("Is int8 lossless?", "", "asks a question"),
        (
            "NF4 outliers, what are they and at what size do they show up",
            "nf4 outliers - what are they and at what size do they show up?",
            "restates the question",
        ),
        (
            "GPTQ needs a calibration set, and GPTQ needs a calibration set to run.",
            "",
            "repeats itself",
        ),
        (
            "Round-to-nearest keeps more quality than simple round-to-nearest at 4 bits.",
            "",
            "with itself",
        ),
        ("Double quantization in QLoRA is the same as double quantization.", "", "with itself"),
        ("NVIDIA Transformer Engine.", "GGUF only works on GPUs, right?", "names things"),
        # the model's words for a heading: "transformers" after "in" is a noun, not a verb
        ("Graphene: GPTQ quantization in transformers", "gptq how long to quantize 175b", "names"),
    ],
)
def test_a_sentence_that_asserts_nothing_is_uncertain_with_its_reason(
    verifier, chunks, sentence, question, reason
):
    verdict = verifier.check([sentence], chunks[:5], question)[0]
    assert verdict.status == "uncertain" and reason in verdict.reason


def test_restating_a_yes_no_question_as_a_statement_is_an_answer():
    assert (
        verify.vacuity(
            "LLaMA-3 is more sensitive than LLaMA-2.", "Is LLaMA-3 more sensitive than LLaMA-2?"
        )
        == ""
    )


@pytest.mark.parametrize(
    "sentence",
    [
        "NF4 halves the memory of the weights.",
        "QLoRA combines three memory tricks [1].",
        "GPTQ quantized OPT-175B.",
        "Int8 can't hold outliers well.",
    ],
)
def test_a_short_sentence_with_a_verb_is_a_claim(sentence):
    assert verify.vacuity(sentence) == ""


def test_a_comparison_of_two_different_things_is_a_claim():
    assert verify.vacuity("LLaMA-3 is more sensitive to quantization than LLaMA-2.") == ""
    assert verify.vacuity("GPTQ preserves more quality than round-to-nearest.") == ""
    assert verify.vacuity("The smoothing is mathematically equivalent to the original layer.") == ""


def test_a_lead_in_is_dropped_and_what_follows_is_checked(verifier, chunks):
    evidence = [c for c in chunks if c.doc_id == "gptq.md"]
    claim = "GPTQ quantizes a 175B model to 3-4 bits in about 4 GPU hours."
    plain, led = verifier.check([claim, f"The answer is: {claim}"], evidence, "how long?")
    assert led.status == plain.status == "supported", led.reason


def test_a_sentence_whose_subject_is_a_bare_pronoun_cannot_be_backed_alone(verifier, chunks):
    evidence = [c for c in chunks if c.doc_id == "gptq.md"]
    sentence = "It quantizes a 175B model to 3-4 bits in about 4 GPU hours."
    verdict = verifier.check([sentence], evidence, "how long does gptq take?")[0]
    assert verdict.status == "uncertain" and "“It” refers to" in verdict.reason


def test_words_in_quotation_marks_must_be_the_sources_own(rules, chunks):
    evidence = [c for c in chunks if c.doc_id == "lesson-what-ai-cannot-do.md"]
    quoted, misquoted = rules.check(
        [
            'The lesson\'s section "What AI cannot do" names two limits.',
            "The lesson's section “What AI does not manage” names two limits.",
        ],
        evidence,
        "what can't ai do here?",
    )
    assert quoted.status == "supported", quoted.reason
    assert misquoted.status == "uncertain" and "What AI does not manage" in misquoted.reason


def test_each_half_of_a_contrast_needs_its_own_backing(verifier, chunks):
    evidence = [c for c in chunks if c.doc_id == "lesson-premise.md"]
    sentence = (
        "The lesson places the quality cliff at int4 on hard tasks, such as hard reasoning, "
        "while easy tasks fall off the cliff."
    )
    verdict = verifier.check([sentence], evidence, "where is the cliff?")[0]
    # whether the half or the whole is named depends on the learned checker's scores
    assert verdict.status == "uncertain", verdict.reason


def test_an_exclusive_only_the_sources_do_not_state_is_overbroad(rules):
    verdict, _ = rules.check_claim("bitsandbytes only works on AMD GPUs.")
    assert verdict.status == "overbroad" and "“only”" in verdict.reason


def test_only_as_emphasis_is_not_an_absolute(rules):
    verdict, _ = rules.check_claim("Q8_0 LLaMA-3-8B had a KL divergence of only 0.0014 from F16.")
    assert verdict.status == "supported", verdict.reason


def test_what_moves_into_what_cannot_be_reversed(rules, chunks):
    evidence = [c for c in chunks if c.doc_id == "smoothquant.md"]
    faithful, reversed_ = rules.check(
        [
            "SmoothQuant migrates the activation outliers into the weights.",
            "SmoothQuant migrates the weight outliers into the activations.",
        ],
        evidence,
        "how does smoothquant handle outliers?",
    )
    assert faithful.status == "supported", faithful.reason
    assert reversed_.status == "contradicted", reversed_.reason
