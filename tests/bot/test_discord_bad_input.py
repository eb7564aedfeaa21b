"""Bad input through the cogs: refused privately, before the queue, changing nothing."""

import discord
import pytest
from bad_inputs import BAD_QUESTIONS, LIVE_PING
from bot_fakes import (
    assert_no_pings,
    channel_named,
    interaction_for,
    member_named,
    private_reply,
    sent,
)

from bot import render


def from_learner(bot, name: str = "learner"):
    return interaction_for(bot, member_named(name), channel_named("general"))


@pytest.mark.parametrize("command", ["ask", "explain", "nextsteps"])
@pytest.mark.parametrize("text", BAD_QUESTIONS.values(), ids=BAD_QUESTIONS.keys())
async def test_bad_text_to_a_command_gets_a_private_refusal_and_no_queue_place(bot, command, text):
    cog = bot.get_cog("Ask")
    interaction = from_learner(bot)
    await getattr(cog, command).callback(cog, interaction, text)
    interaction.response.defer.assert_not_awaited()  # refused before the queue and the model
    assert ("limit" if len(text) > 1000 else "empty") in private_reply(interaction)
    assert_no_pings(interaction)


async def test_mentions_and_masked_links_in_a_question_cannot_ping_or_link(bot):
    cog = bot.get_cog("Ask")
    interaction = from_learner(bot, "classmate")
    question = (
        "@everyone <@&123456789012345678> [click me](https://evil.example) "
        "**how many bytes** does an int8 weight take? @here"
    )
    await cog.ask.callback(cog, interaction, question)
    contents = [content or "" for _, content, _ in sent(interaction)]
    assert "**What the sources say**" in contents[-1] and render.DRAFTING not in contents[-1]
    assert_no_pings(interaction)
    for content in contents:
        assert not LIVE_PING.search(content) and "<@&" not in content
        assert "[click me](" not in content  # the link is shown as text, escaped
    assert any(r"\[click me\]\(https://evil.example\)" in content for content in contents)


async def test_a_refused_quiz_answer_changes_nothing_and_is_told_privately(bot, service):
    learner = member_named("learner")
    guild = str(learner.guild.id)
    view = service.quizzes.start(str(learner.id), guild, "deep_dive")
    before = service.store.load_quiz(str(learner.id), guild, "deep_dive")
    cog = bot.get_cog("Quiz")
    for question_id, choice, says in [
        ("no-such-question", "A", "no question"),
        (view.question_id, "Z", "not an option"),
        ("'); DROP TABLE quiz_sessions; --", "A", "no question"),
    ]:
        interaction = from_learner(bot)
        await cog.grade(interaction, "deep_dive", question_id, choice)
        assert says in private_reply(interaction)
        assert_no_pings(interaction)
    assert service.store.load_quiz(str(learner.id), guild, "deep_dive") == before


@pytest.mark.parametrize("correction", ["", " \n\t ", "\u200b\u202e", "x" * 4001])
async def test_an_unusable_correction_is_refused_and_the_item_stays_pending(
    bot, service, correction
):
    moderator = member_named("moderator")
    review_id = service.store.add_review(
        "Is int4 lossless?", {"model": "m"}, "7777", str(moderator.guild.id)
    )
    interaction = interaction_for(
        bot,
        moderator,
        channel_named("moderators"),
        permissions=discord.Permissions(manage_messages=True),
    )
    await bot.get_cog("Review").correct(interaction, review_id, correction)
    assert "correction" in private_reply(interaction)
    assert service.store.get_review(review_id).status == "pending"
    service.store.resolve_review(review_id, "rejected", "cleanup")  # off the shared queue
