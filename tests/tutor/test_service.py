"""Answers through the real service: real index, real model, real store; and the store
kept off the event loop (real index and store, the fake model)."""

import re
import threading

import numpy as np
import pytest

from knowledge.embeddings import embed
from tutor.answer import Asker
from tutor.errors import GuardError, ReviewError
from tutor.quizzes import QuizDesk
from tutor.storage import Store

FLAGGED = "Is every 4-bit model as good as the original?"
OVERBROAD = "Every 4-bit model is always exactly as accurate as its original in every task [1]."


async def test_an_answer_leads_with_cited_source_sentences(service):
    answer = await service.ask("How much memory does a 7B model need in int8?")
    assert answer.kind == "answer"
    lead = answer.from_sources
    assert lead and all(s.status == "supported" and s.citations for s in lead)
    cited = {n for s in answer.sentences for n in s.citations}
    assert cited <= {ref.n for ref in answer.sources}
    assert any("7 GB" in s.text for s in lead)
    assert "memory-7b-model.md" in {ref.doc_id for ref in answer.sources}
    rendered = answer.render()
    assert "**Sources**" in rendered and "[1]" in rendered


async def test_every_draft_sentence_carries_a_status(service):
    answer = await service.ask("What does GPTQ do?")
    assert answer.draft, "the model wrote nothing"
    for sentence in answer.draft:
        assert sentence.status in {"supported", "uncertain", "overbroad", "contradicted"}
        if sentence.flagged:
            assert sentence.reason
            assert f"__{sentence.text}" in answer.render()


async def test_streaming_shows_the_draft_as_it_is_written(service):
    seen = []
    await service.ask("What does GPTQ do?", on_text=seen.append)
    assert len(seen) > 1
    assert seen[-1].startswith(seen[0])


async def test_an_off_topic_question_gets_a_polite_redirect(service):
    answer = await service.ask("What is the capital of France?")
    assert answer.kind == "off_topic"
    assert not answer.sentences and not answer.sources
    assert "quantization" in answer.render()


async def test_an_uncovered_quantization_question_says_so_and_does_not_guess(service):
    answer = await service.ask(
        "What did the 1998 JPEG committee say about quantizing DCT coefficients?"
    )
    assert answer.kind == "not_covered"
    assert "will not guess" in answer.render()
    assert not answer.draft


@pytest.mark.parametrize("question", ["", "   \n\t ", "\u200b\u202e", "x" * 5000])
async def test_bad_questions_get_a_clear_message(service, question):
    with pytest.raises(GuardError) as caught:
        await service.ask(question)
    assert "question" in str(caught.value)


# -- the store off the event loop -----------------------------------------------------


class RecordingStore:
    """A real store that notes, for every call, the method and the thread that made it."""

    def __init__(self, store: Store):
        self.real = store
        self.calls: list[tuple[str, int]] = []

    def __getattr__(self, name):
        attribute = getattr(self.real, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            self.calls.append((name, threading.get_ident()))
            return attribute(*args, **kwargs)

        return call

    def called(self) -> list[str]:
        return [name for name, _ in self.calls]

    def on_thread(self, thread: int) -> list[str]:
        return [name for name, ident in self.calls if ident == thread]


@pytest.fixture
def recorded(fake_service, tmp_path):
    """The fake-model service over a fresh real store that records who calls it."""
    kept = fake_service.store, fake_service.quizzes
    store = RecordingStore(Store(tmp_path / "recorded.sqlite3"))
    fake_service.store, fake_service.quizzes = store, QuizDesk(store)
    yield fake_service, store
    fake_service.store, fake_service.quizzes = kept
    store.real.close()


async def test_each_store_method_of_the_service_runs_off_the_event_loop(recorded):
    service, store = recorded
    loop_thread = threading.get_ident()
    answer = {"question": "What is NF4?", "model": "m", "quantization": "nf4"}
    question_id = store.real.log_question("42", "g", "What is NF4?", False, answer)

    async def off_loop(call, *names):
        store.calls.clear()
        result = await call
        assert store.called() and set(names) <= set(store.called())
        assert store.on_thread(loop_thread) == []
        return result

    logged = await off_loop(service.logged_question(question_id), "logged_question")
    assert logged.question == "What is NF4?" and logged.answer == answer
    assert await off_loop(service.rate_answer("7", logged, True), "has_rated")
    assert not await off_loop(service.rate_answer("7", logged, False), "has_rated")
    assert store.real.export_user("7")["feedback"][0]["helpful"] == 1  # the first rating
    review_id, new = await off_loop(
        service.report_answer(logged, "c", "555", "8"), "review_for_message", "add_review"
    )
    assert new and await service.report_answer(logged, "c", "555") == (review_id, False)
    await off_loop(service.set_review_message(review_id, "c2", "556"), "set_review_message")
    await off_loop(service.set_review_post(review_id, "m1", "557"), "set_review_post")
    review = await off_loop(service.get_review(review_id), "get_review")
    assert (review.guild_id, review.channel_id, review.message_id) == ("g", "c2", "556")
    assert (review.reporter_id, review.mod_channel_id, review.mod_message_id) == ("8", "m1", "557")
    with pytest.raises(ReviewError, match="no review item"):
        await service.get_review(review_id + 100)
    pending = await off_loop(service.pending_reviews("g", 10), "list_reviews")
    assert [r.id for r in pending] == [review_id]
    assert await off_loop(service.guild_settings("g"), "guild_settings") == {}
    changed = await off_loop(
        service.update_guild_settings("g", cooldown_s=5), "update_guild_settings"
    )
    assert changed == {"cooldown_s": 5} == await service.guild_settings("g")

    first = await off_loop(service.quiz_start("42", "g", "lesson"), "load_quiz", "save_quiz")
    assert await off_loop(service.quiz_current("42", "g", "lesson"), "load_quiz") == first
    turn = await off_loop(
        service.quiz_answer("42", "g", "lesson", first.question_id, "A"), "load_quiz", "save_quiz"
    )
    assert turn.next_question.number == 2
    assert await off_loop(service.quiz_score("42", "g", "lesson"), "quiz_score") is None
    assert await off_loop(service.quiz_leaderboard("g", "lesson"), "leaderboard") == []


async def test_ask_writes_to_the_store_off_the_event_loop(recorded, fake_model, monkeypatch):
    service, store = recorded
    monkeypatch.setattr(fake_model, "script", {FLAGGED: OVERBROAD})
    loop_thread = threading.get_ident()
    asker = Asker("42", "g", "c")

    answer = await service.ask(FLAGGED, asker)
    assert answer.flagged and answer.question_id is not None and answer.review_id is not None
    assert store.called() == ["log_question", "add_review"]
    assert store.on_thread(loop_thread) == []
    review = store.real.get_review(answer.review_id)
    assert review.answer["question_id"] == answer.question_id and review.guild_id == "g"

    store.calls.clear()
    off_topic = await service.ask("What is the capital of France?", asker)
    assert off_topic.kind == "off_topic"
    assert store.called() == ["log_question"] and store.on_thread(loop_thread) == []


async def test_a_servers_pending_list_is_not_crowded_out_by_other_servers(recorded):
    service, store = recorded
    with store.real._transaction() as db:  # 600 older items, all from another server
        for n in range(600):
            db.execute(
                "INSERT INTO reviews (question, answer_json, user_id, guild_id, model,"
                " quantization, created_at) VALUES (?, '{}', '1', 'elsewhere', 'm', 'nf4', ?)",
                (f"question {n}", float(n)),
            )
    ours = [store.real.add_review(f"ours {n}", {"model": "m"}, "7", "ours") for n in range(3)]
    store.real.resolve_review(ours[1], "approved", "mod")

    pending = await service.pending_reviews("ours", 500)
    assert [r.id for r in pending] == [ours[0], ours[2]]  # oldest first, decided ones gone
    assert [r.id for r in await service.pending_reviews("ours", 1)] == [ours[0]]
    assert len(await service.pending_reviews("elsewhere", 500)) == 500


@pytest.mark.parametrize(
    ("question", "assumed"),
    [
        ("Why is int4 lossless?", "int4 is lossless"),
        ("So GPTQ needs retraining, right?", "GPTQ needs retraining"),
    ],
)
async def test_a_false_premise_is_answered_first(fake_service, question, assumed):
    answer = await fake_service.ask(question)
    opening = answer.sentences[0]
    assert opening.text.startswith(f"The question assumes that {assumed}")  # names as written
    assert "the sources disagree" in opening.text and opening.citations
    assert not re.search(r"\[\d+\]\W*$", opening.text)  # the citation is shown once, by render


@pytest.mark.parametrize(
    "question",
    [
        "Since GPTQ needs no retraining, how long does it take?",
        # what the asker did and saw: their own numbers are not the sources' to deny
        "my ppl for gpt2-large on wikitext-2 is 19.4 but a guide says 16.4, is my eval broken?",
        "got a 3090 and an a100, grabbed an fp8 checkpoint hoping for the fp8 tensor core "
        "speedup. will i actually get it on those cards?",
        # the same, typed without the "i"
        'ran llama-server with -ctv q4_0 and it quit with "V cache quantization requires '
        'flash_attn". is my build broken or do i just need a flag?',
        # a "why" question about what a source says: a paraphrase is not its opposite
        "Why does KIVI quantize the key cache per channel but the value cache per token?",
        "Why does round-to-nearest lose more quality than calibration-based methods?",
        # "at all" stresses a negation; it claims nothing about "all"
        "turned on the fp8 kv cache in vllm but latency didnt improve at all, is that expected?",
    ],
)
async def test_a_true_premise_gets_no_correction(fake_service, question):
    answer = await fake_service.ask(question)
    assert not any("question assumes" in s.text for s in answer.sentences)


async def test_the_lead_takes_the_figure_from_the_chunk_that_matched_the_question(fake_service):
    # "Human raters saw a drop of 16.0%" says little alone; its chunk's heading matched.
    answer = await fake_service.ask("What did Marchisio et al. find about Japanese?")
    assert any("16.0%" in s.text for s in answer.from_sources)


async def test_the_opening_says_different_things_rather_than_one_thing_twice(fake_service):
    # The sensitivity document says "LLaMA-3 is more sensitive" in three ways; one is enough.
    answer = await fake_service.ask("Is LLaMA-3 or LLaMA-2 more sensitive to quantization?")
    vectors = embed([s.text for s in answer.from_sources])
    closest = max(float(np.dot(a, b)) for i, a in enumerate(vectors) for b in vectors[i + 1 :])
    assert len(answer.from_sources) >= 3 and closest < 0.9
    # room for a figure: the perplexity ratio of either family
    assert any(re.search(r"ratio.*1\.0(14|28)", s.text) for s in answer.from_sources)


async def test_the_opening_does_not_lend_another_models_figures_to_the_one_asked(fake_service):
    # The 70B worked example's "A 131,072-token context needs … 40 GiB" names no model.
    answer = await fake_service.ask("how much kv cache does an 8B model need at 128k context?")
    cited = {n for s in answer.from_sources for n in s.citations}
    titles = [ref.title for ref in answer.sources if ref.n in cited]
    assert any("8B" in title for title in titles)
    assert not any("70B" in title for title in titles)


async def test_a_model_named_without_its_size_is_not_lent_other_models_figures(fake_service):
    # Mixtral-8x7B is 47B: the 8B and 70B worked examples' unnamed figures are not about it.
    answer = await fake_service.ask("can i fit mixtral in 4bit on a single 4090 with 8k context?")
    titles = {ref.n: ref.title for ref in answer.sources}
    for sentence in answer.from_sources:
        if re.search(r"\b(8|70)B\b", titles[sentence.citations[0]]):
            assert re.search(r"\b\d+B\b", sentence.text), sentence.text


async def test_a_sentence_naming_the_asked_size_stays_under_another_sizes_heading(fake_service):
    # The ternary fine-tuning document is headed "Llama3 8B"; one line is about SmolLM 135M.
    answer = await fake_service.ask("what did warmup quantization do for smollm 135m?")
    assert any("little improvement" in s.text for s in answer.from_sources)


async def test_a_source_the_arithmetic_adds_quotes_the_line_it_backs(fake_service):
    # Retrieval does not bring the decode-speed document, which opens by pointing to another.
    answer = await fake_service.ask("how much kv cache for an 8B model at 128k on a 4090?")
    bound = next(s for s in answer.sentences if s.text.startswith("Decoding bound"))
    quote = next(ref.quote for ref in answer.sources if ref.n == bound.citations[0])
    assert ".md" not in quote and "per second" in quote


async def test_a_source_beyond_the_prompts_is_listed_only_when_the_lead_cites_it(fake_service):
    answer = await fake_service.ask("which skill degraded fastest in quantized multilingual llms")
    cited = {n for s in answer.sentences for n in s.citations}
    top_k = fake_service.settings.top_k
    assert all(ref.n <= top_k or ref.n in cited for ref in answer.sources)
    assert cited <= {ref.n for ref in answer.sources}
    assert [ref.n for ref in answer.sources] == list(range(1, len(answer.sources) + 1))


async def test_a_learners_wording_finds_the_sentence_a_source_question_names(fake_service):
    # "less context" shares no words with "my number is way worse"; the source's own
    # question "…my ppl is higher than what others report, why" does, in meaning.
    answer = await fake_service.ask(
        "chopped wikitext into separate 2048 token pieces, my perplexity comes out much "
        "higher than the published one. did quantizing break it?"
    )
    assert any("less context" in s.text for s in answer.from_sources)


async def test_the_opening_answers_rather_than_pointing_to_another_document(fake_service):
    # The NF4 document ends "The NF4 details are covered in qlora-nf4-double-quant.md."
    answer = await fake_service.ask("What is NF4?")
    assert answer.from_sources
    assert not any(".md" in s.text for s in answer.from_sources)


async def test_how_a_method_works_is_answered_by_what_it_does_not_who_published_it(fake_service):
    # "GPTQ was published by Frantar … in 2022" shares the name, not the answer.
    answer = await fake_service.ask("How does GPTQ work?")
    assert answer.from_sources
    assert not any(re.search(r"published|arXiv", s.text) for s in answer.from_sources)


async def test_a_question_after_a_formula_is_answered_early_by_the_equation(fake_service):
    # Sentences about scales and zero points in words came first; the equation was 7th.
    answer = await fake_service.ask(
        "how do you calculate the integer a real value is quantized to with a scale and zero point?"
    )
    assert any("round(x / scale + zero_point)" in s.text for s in answer.from_sources[:4])


async def test_a_question_worded_like_a_source_question_finds_its_answer_in_a_low_chunk(
    fake_service,
):
    # None of the 20 best chunks by this question's own words is the one on LLM.int8()'s
    # overhead; a source question close to it names that chunk's sentences.
    answer = await fake_service.ask(
        "why does my model generate slower with load_in_8bit than in fp16"
    )
    assert any("LLM.int8()" in s.text and "slower" in s.text for s in answer.from_sources[:3])


async def test_a_memory_question_no_source_covers_is_answered_by_its_arithmetic(fake_service):
    # No chunk covers it, so no source question may bring one in: the estimate answers alone.
    answer = await fake_service.ask(
        "my 13b q4 ooms when i paste a long pdf, what is eating the memory"
    )
    assert any(s.origin == "arithmetic" and "13" in s.text for s in answer.sentences)


async def test_who_published_a_method_is_still_answered_when_asked(fake_service):
    answer = await fake_service.ask("Who published GPTQ, and when?")
    assert any("Frantar" in s.text for s in answer.from_sources)


async def test_a_premise_the_sources_do_not_go_as_far_as_is_answered_first(fake_service):
    answer = await fake_service.ask("bitsandbytes only runs on AMD GPUs, right?")
    opening = answer.sentences[0].text
    assert opening.startswith("The question assumes that bitsandbytes only runs on AMD GPUs")
    assert "the sources do not go that far" in opening


async def test_a_name_no_source_uses_is_said_to_be_unknown_before_the_source_sentences(
    fake_service,
):
    answer = await fake_service.ask("Does TFLite support int8 quantization?")
    assert answer.from_sources[0].text.startswith("My sources never mention TFLite")
    assert all(s.citations for s in answer.from_sources[1:])


async def test_a_question_about_a_card_is_answered_from_what_the_sources_say_of_its_generation(
    fake_service,
):
    # vLLM's table says "AWQ on Turing, Ampere, Ada and Hopper but not on Volta", not "V100"
    answer = await fake_service.ask("can i run an awq model in vllm on a v100")
    opening = " ".join(s.text for s in answer.from_sources)
    assert "not on Volta" in opening
    assert answer.question == "can i run an awq model in vllm on a v100"  # shown as asked
