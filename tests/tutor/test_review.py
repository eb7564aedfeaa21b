"""The review queue: flagged answers stored, decided once, corrections become sources."""

import pytest

from tutor.answer import Asker
from tutor.errors import ReviewError
from tutor.storage import Store


async def flagged_answer(service):
    for question in ("Is int8 always lossless for every model?", "What is NF4?", "q4 vs q8?"):
        answer = await service.ask(question, Asker("learner-1", "guild-1", "chan-1"))
        if answer.flagged:
            return answer
    pytest.fail("none of the answers was flagged")


async def test_a_flagged_answer_is_queued_and_survives_a_restart(service, settings):
    answer = await flagged_answer(service)
    assert answer.review_id is not None
    reopened = Store(settings.database_path)
    try:
        review = reopened.get_review(answer.review_id)
    finally:
        reopened.close()
    assert review.status == "pending"
    assert review.question == answer.question
    assert (review.user_id, review.guild_id, review.channel_id) == (
        "learner-1",
        "guild-1",
        "chan-1",
    )
    assert review.model == service.model_name and review.quantization == "nf4"
    statuses = [s["status"] for s in review.answer["sentences"]]
    assert any(status != "supported" for status in statuses)
    assert review.answer["sources"]


@pytest.mark.parametrize("decision", ["approved", "rejected"])
async def test_a_decision_applies_once_and_a_second_moderator_is_told(service, decision):
    answer = await flagged_answer(service)
    review = service.resolve_review(answer.review_id, decision, "mod-a")
    assert (review.status, review.moderator) == (decision, "mod-a")
    assert review.resolved_at is not None
    with pytest.raises(ReviewError, match=f"already {decision} by mod-a"):
        service.resolve_review(answer.review_id, "corrected", "mod-b", "Other text.")
    assert service.store.get_review(answer.review_id).status == decision


async def test_a_correction_becomes_a_cited_moderator_source(service):
    answer = await flagged_answer(service)
    correction = (
        "The Zorblax-7 accelerator cannot run NF4 kernels, so quantutor moderators "
        "recommend int8 on Zorblax-7 boards."
    )
    review = service.resolve_review(answer.review_id, "corrected", "mod-c", correction)
    assert review.correction == correction
    later = await service.ask("Can the Zorblax-7 accelerator run NF4?")
    cited = {ref.doc_id: ref for ref in later.sources}
    assert f"review-{review.id}.md" in cited
    assert "quantutor moderators" in cited[f"review-{review.id}.md"].source
    assert service.verify_claim("The Zorblax-7 cannot run NF4 kernels.")["status"] == "supported"


def test_unknown_items_and_empty_corrections_get_clear_messages(service):
    with pytest.raises(ReviewError, match="no review item #99999"):
        service.resolve_review(99999, "approved", "mod")


async def test_a_correction_is_evidence_for_the_next_answer(fake_service, script_draft):
    """A moderator's correction is checked against like any source: the false sentence it
    answers is caught next time, and the corrected statement passes."""
    question = "How many GPU hours did the house model's quantization take?"
    false, corrected = (
        "The house model's quantization took 40 GPU hours.",
        "The house model's quantization took 2 GPU hours on the lab server.",
    )
    script_draft(question, false)
    first = await fake_service.ask(question, Asker("learner-9", "guild-9"))
    assert first.flagged and first.review_id is not None
    fake_service.resolve_review(first.review_id, "corrected", "mod", corrected)

    again = await fake_service.ask(question, Asker("learner-9", "guild-9"))
    drafted = [s for s in again.sentences if s.origin == "draft"]
    assert [s.status for s in drafted] == ["contradicted"], drafted
    script_draft(question, corrected)
    fixed = await fake_service.ask(question, Asker("learner-9", "guild-9"))
    assert not fixed.flagged
    assert any(s.status == "supported" and "2 GPU hours" in s.text for s in fixed.sentences), (
        fixed.sentences
    )
    assert any("Moderator correction" in ref.title for ref in fixed.sources)
