"""/ask, /explain, /nextsteps and the answer's buttons, through the cogs and the real tutor."""

import logging
import sqlite3
import time

import discord.ext.test as dpytest
import pytest
from bot_fakes import (
    assert_no_pings,
    button_for,
    channel_named,
    fake_message,
    interaction_for,
    long_answer,
    member_named,
    texts,
)

from bot import render
from bot.cogs.ask import BUTTON_LOOKS, EDIT_INTERVAL_S, AnswerButton
from bot.main import build_bot
from tutor.admission import Admission

FLAGGED_QUESTION = "Is int8 always lossless for every model?"


def ask_cog(bot):
    return bot.get_cog("Ask")


def final_call(interaction):
    """The last message of the reply: the one that carries the sources and the buttons."""
    if interaction.followup.send.await_count:
        return interaction.followup.send.await_args
    return interaction.edit_original_response.await_args


def button_ids(view) -> list[str]:
    return [button.item.custom_id for button in view.children]


def stored_answer(service, answer, user_id: str = "1") -> int:
    """The answer as the tutor logs it: the id its buttons carry."""
    return service.store.log_question(user_id, "", answer.question, False, answer.to_dict())


async def press(bot, action: str, question_id: int, interaction) -> None:
    """Press a button as Discord delivers it: resolved from its custom_id alone."""
    item = await button_for(bot, f"answer:{action}:{question_id}", interaction)
    assert isinstance(item, AnswerButton)
    await item.callback(interaction)


def streamed_edit_times(interaction, times):
    return [
        t
        for t, call in zip(times, interaction.edit_original_response.await_args_list)
        if render.DRAFTING in call.kwargs["content"]
    ]


async def test_ask_defers_streams_then_replies_with_cited_sources_and_buttons(bot, service):
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    times = []
    original_edit = interaction.edit_original_response.side_effect
    interaction.edit_original_response.side_effect = lambda **k: (
        times.append(time.monotonic()),
        original_edit(**k),
    )[1]

    await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question=FLAGGED_QUESTION)

    interaction.response.defer.assert_awaited_once_with(thinking=True)
    streamed = streamed_edit_times(interaction, times)
    assert streamed, "the draft was not streamed"
    gaps = [b - a for a, b in zip(streamed, streamed[1:])]
    assert all(gap >= EDIT_INTERVAL_S * 0.9 for gap in gaps), gaps

    final = final_call(interaction)
    content = final.args[0] if final.args else final.kwargs["content"]
    everything = "\n".join(texts(interaction))
    assert "**What the sources say**" in everything and "[1]" in everything
    assert render.DRAFTING not in content
    embed = final.kwargs["embed"]
    assert embed.title == "Sources" and embed.fields[0].name.startswith("[1]")
    view = final.kwargs["view"]
    labels = [button.item.label for button in view.children]
    assert labels == ["Helpful", "Not helpful", "Explain simpler", "Report to moderators"]
    assert view.timeout is None  # the buttons never expire
    question_id = int(button_ids(view)[0].rsplit(":", 1)[1])
    logged = service.store.logged_question(question_id)
    assert logged.question == FLAGGED_QUESTION
    assert_no_pings(interaction)

    # This answer is flagged (greedy decoding is deterministic): it went to the moderators,
    # with the message to post the outcome back to.
    assert logged.answer["flagged"]
    review = next(r for r in service.store.list_reviews(limit=100) if r.question == logged.question)
    assert review.message_id and review.channel_id == str(channel_named("general").id)
    posted = dpytest.get_message()
    assert posted.channel == channel_named("moderators")
    assert f"Review #{review.id}" in posted.content


async def test_feedback_buttons_store_one_rating_per_member(bot, service, settings):
    answer = long_answer(6)
    question_id = stored_answer(service, answer)
    clicks = [interaction_for(bot, member_named("classmate"), channel_named("general"))]
    clicks.append(interaction_for(bot, member_named("classmate"), channel_named("general")))
    await press(bot, "helpful", question_id, clicks[0])
    await press(bot, "unhelpful", question_id, clicks[1])
    assert "Thanks for the feedback" in clicks[0].response.send_message.await_args.args[0]
    assert "already rated" in clicks[1].response.send_message.await_args.args[0]
    assert clicks[1].response.send_message.await_args.kwargs["ephemeral"] is True
    with sqlite3.connect(settings.database_path) as db:
        rows = db.execute(
            "SELECT user_id, helpful FROM feedback WHERE question = ?", (answer.question,)
        ).fetchall()
    assert rows == [(str(member_named("classmate").id), 1)]


async def test_report_queues_the_answer_for_the_moderators_once(bot, service):
    answer = long_answer(6)
    question_id = stored_answer(service, answer, str(member_named("learner").id))
    answer_message = fake_message(channel_named("general"))
    first = interaction_for(
        bot, member_named("classmate"), channel_named("general"), message=answer_message
    )
    await press(bot, "report", question_id, first)
    review_id = service.store.review_for_message(str(answer_message.id))
    review = service.store.get_review(review_id)
    assert (review.status, review.question) == ("pending", answer.question)
    assert review.user_id == str(member_named("learner").id)  # the asker, not the reporter
    assert len(review.answer["sentences"]) == 6  # the answer as it was given
    posted = dpytest.get_message()
    assert posted.channel == channel_named("moderators")
    assert "reported by" in posted.content and not posted.mention_everyone

    again = interaction_for(
        bot, member_named("learner"), channel_named("general"), message=answer_message
    )
    await press(bot, "report", question_id, again)
    assert "already with the moderators" in again.response.send_message.await_args.args[0]
    assert dpytest.verify().message().nothing()


async def test_explain_simpler_answers_the_same_question_in_explain_mode(bot, service, monkeypatch):
    answer = long_answer(2)
    answer.question = "What is NF4?"
    question_id = stored_answer(service, answer)
    interaction = interaction_for(bot, member_named("classmate"), channel_named("general"))
    calls = []
    real_ask = service.ask

    async def spy(question, asker, on_text=None, mode="answer"):
        calls.append((question, mode))
        return await real_ask(question, asker, on_text=on_text, mode=mode)

    monkeypatch.setattr(service, "ask", spy)
    await press(bot, "simpler", question_id, interaction)
    assert calls == [("What is NF4?", "explain")]
    assert "NF4" in "\n".join(texts(interaction))
    assert_no_pings(interaction)


async def test_answer_buttons_work_after_a_restart_and_after_the_asker_is_forgotten(
    bot, service, settings
):
    answer = long_answer(2)
    question_id = stored_answer(service, answer, "forget-me")
    restarted = build_bot(service, settings)  # a new process: nothing in memory but setup_hook
    await restarted.setup_hook()
    assert AnswerButton in restarted._connection._view_store._dynamic_items.values()
    restarted.http, restarted._connection = bot.http, bot._connection  # the same (fake) Discord
    interaction = interaction_for(restarted, member_named("classmate"), channel_named("general"))
    await press(restarted, "helpful", question_id, interaction)
    assert "Thanks for the feedback" in interaction.response.send_message.await_args.args[0]

    service.store.forget_user("forget-me")
    interaction = interaction_for(restarted, member_named("classmate"), channel_named("general"))
    await press(restarted, "report", question_id, interaction)
    assert "no longer stored" in interaction.response.send_message.await_args.args[0]


async def test_explain_command_answers_in_plain_words(bot):
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    await ask_cog(bot).explain.callback(ask_cog(bot), interaction, topic="perplexity")
    everything = "\n".join(texts(interaction))
    assert "**Q:** perplexity" in everything and "**What the sources say**" in everything
    assert button_ids(final_call(interaction).kwargs["view"])[0].startswith("answer:helpful:")
    assert_no_pings(interaction)


async def test_nextsteps_gives_two_steps_each_with_a_risk(bot):
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    detail = "My 4-bit model got worse at long reasoning tasks"
    await ask_cog(bot).nextsteps.callback(ask_cog(bot), interaction, detail=detail)
    everything = "\n".join(texts(interaction))
    assert "**Two possible next steps**" in everything
    assert everything.count("Might be wrong because") == 2
    assert final_call(interaction).kwargs["embed"].title == "Sources"
    assert_no_pings(interaction)


async def test_a_long_answer_is_split_under_2000_characters_with_no_pings(bot):
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    answer = long_answer(80)
    answer.question_id = 7
    await ask_cog(bot).send_answer(interaction, answer)
    pieces = texts(interaction)
    assert len(pieces) > 2 and all(len(p) <= 2000 for p in pieces)
    assert interaction.edit_original_response.await_args.kwargs["embed"] is None
    last = interaction.followup.send.await_args
    assert last.kwargs["embed"].title == "Sources"
    assert button_ids(last.kwargs["view"]) == [f"answer:{a}:7" for a in BUTTON_LOOKS]
    assert_no_pings(interaction)


@pytest.mark.parametrize(
    ("question", "expected"),
    [("   ", "question is empty"), ("x" * 5000, "limit is 1,000")],
)
async def test_a_bad_question_gets_a_private_explanation_and_nothing_is_queued(
    bot, question, expected
):
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question=question)
    interaction.response.defer.assert_not_awaited()
    call = interaction.response.send_message.await_args
    assert expected in call.args[0] and call.kwargs["ephemeral"] is True
    assert bot.admission.waiting == 0


async def test_outside_the_allowed_channels_the_bot_points_to_them(bot, service):
    guild = channel_named("general").guild
    service.store.update_guild_settings(
        str(guild.id), ask_channel_ids=[channel_named("general").id]
    )
    interaction = interaction_for(bot, member_named("learner"), channel_named("elsewhere"))
    await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question="What is NF4?")
    call = interaction.response.send_message.await_args
    assert f"<#{channel_named('general').id}>" in call.args[0] and call.kwargs["ephemeral"]
    interaction.response.defer.assert_not_awaited()


async def test_a_full_queue_tells_the_wait_and_a_busy_user_is_told_too(bot):
    bot.admission = Admission(capacity=0)
    busy = bot.admission.admit(str(member_named("classmate").id))  # answering; the line is full
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question="What is NF4?")
    call = interaction.response.send_message.await_args
    assert "busy" in call.args[0] and "Please ask again in about" in call.args[0]

    again = interaction_for(bot, member_named("classmate"), channel_named("general"))
    await ask_cog(bot).ask.callback(ask_cog(bot), again, question="What is NF4?")
    assert "already have a question in progress" in again.response.send_message.await_args.args[0]
    bot.admission.release(busy)


async def test_a_failing_model_gets_an_apology_and_a_log_line(bot, service, caplog, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("the model fell over")

    monkeypatch.setattr(service, "ask", broken)
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    with caplog.at_level(logging.ERROR, logger="quantutor.bot"):
        await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question="What is NF4?")
    assert interaction.edit_original_response.await_args.kwargs["content"] == render.APOLOGY
    assert "the model fell over" in caplog.text
    assert bot.admission.waiting == 0  # the queue is free for the next question
    assert_no_pings(interaction)


async def test_a_slow_model_is_reported_as_such(bot, service, monkeypatch):
    async def too_slow(*args, **kwargs):
        raise TimeoutError

    monkeypatch.setattr(service, "ask", too_slow)
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question="What is NF4?")
    assert interaction.edit_original_response.await_args.kwargs["content"] == render.TOO_SLOW
