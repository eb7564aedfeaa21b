"""Answers through the real service: real index, real model, real store."""

import pytest

from tutor.errors import GuardError


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
    answer = await service.ask("What is NF4?")
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
    answer = await service.ask("What did the 1998 JPEG committee say about bits?")
    assert answer.kind == "not_covered"
    assert "will not guess" in answer.render()
    assert not answer.draft


@pytest.mark.parametrize("question", ["", "   \n\t ", "\u200b\u202e", "x" * 5000])
async def test_bad_questions_get_a_clear_message(service, question):
    with pytest.raises(GuardError) as caught:
        await service.ask(question)
    assert "question" in str(caught.value)
