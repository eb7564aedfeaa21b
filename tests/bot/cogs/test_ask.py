"""/ask, /explain, /nextsteps, the answer's buttons and the streamed draft, through the cog
and the real tutor around the scripted model; bad input to the commands is refused."""

import asyncio
import datetime
import logging
import sqlite3
import time

import discord
import discord.ext.test as dpytest
import pytest

from bot import render
from bot.cogs.ask import BUTTON_LOOKS, EDIT_INTERVAL_S, AnswerButton, DeferredReply, DraftStream
from bot.main import build_bot
from tests.helpers.bad_inputs import BAD_QUESTIONS, LIVE_PING
from tests.helpers.discord_fakes import (
    assert_no_pings,
    button_for,
    channel_named,
    dm_channel,
    fake_message,
    from_learner,
    http_response,
    interaction_for,
    long_answer,
    member_named,
    private_reply,
    sent,
    texts,
)
from tutor import rag
from tutor.admission import Admission
from tutor.guard import clean_text

FLAGGED_QUESTION = "Is int8 always lossless for every model?"
# Two sentences the verifier cannot back (the sources say "typically, not always"), one
# word a token: at 0.1 s a token the draft streams for about 1.5 s, over two edit intervals.
FLAGGED_DRAFT = (
    "int8 quantization is always lossless for every model [1]. "
    "It never changes a single answer [1]."
)
STEPS_DETAIL = "My 4-bit model got worse at long reasoning tasks"


def ask_cog(bot):
    return bot.get_cog("Ask")


def final_call(interaction):
    """The last message of the reply: the one that carries the sources and the buttons."""
    if interaction.followup.send.await_count:
        return interaction.followup.send.await_args
    return interaction.edit_original_response.await_args


def button_ids(view) -> list[str]:
    return [button.item.custom_id for button in view.children]


def stored_answer(fake_service, answer, user_id: str = "1") -> int:
    """The answer as the tutor logs it: the id its buttons carry."""
    return fake_service.store.log_question(user_id, "", answer.question, False, answer.to_dict())


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


async def test_ask_defers_streams_then_replies_with_cited_sources_and_buttons(
    bot, fake_service, fake_model, script_draft, monkeypatch
):
    script_draft(FLAGGED_QUESTION, FLAGGED_DRAFT)
    monkeypatch.setattr(fake_model, "token_delay_s", 0.1)
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    times = []
    original_edit = interaction.edit_original_response.side_effect
    interaction.edit_original_response.side_effect = lambda **k: (
        times.append(time.monotonic()),
        original_edit(**k),
    )[1]

    await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question=FLAGGED_QUESTION)

    interaction.response.defer.assert_awaited_once_with(thinking=True, ephemeral=False)
    streamed = streamed_edit_times(interaction, times)
    assert streamed, "the draft was not streamed"
    assert len(streamed) >= 2, "a draft longer than an edit interval was shown only once"
    gaps = [b - a for a, b in zip(streamed, streamed[1:])]
    assert all(gap >= EDIT_INTERVAL_S * 0.9 for gap in gaps), gaps
    previews = [c.kwargs["content"] for c in interaction.edit_original_response.await_args_list]
    assert any("int8 quantization is always" in p for p in previews if render.DRAFTING in p)

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
    logged = fake_service.store.logged_question(question_id)
    assert logged.question == FLAGGED_QUESTION
    assert_no_pings(interaction)

    # The draft says "always lossless", which no source backs: the answer is flagged and
    # went to the moderators, with the message to post the outcome back to.
    assert logged.answer["flagged"]
    reviews = fake_service.store.list_reviews(limit=100)
    review = next(r for r in reviews if r.question == logged.question)
    assert review.message_id and review.channel_id == str(channel_named("general").id)
    posted = dpytest.get_message()
    assert posted.channel == channel_named("moderators")
    assert f"Review #{review.id}" in posted.content


async def test_feedback_buttons_store_one_rating_per_member(bot, fake_service, settings):
    answer = long_answer(6)
    question_id = stored_answer(fake_service, answer)
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


async def test_a_later_answer_to_the_same_question_can_be_rated_too(bot, fake_service):
    answer = long_answer(2)
    first, later = stored_answer(fake_service, answer), stored_answer(fake_service, answer)
    clicks = [from_learner(bot, "classmate") for _ in range(3)]
    await press(bot, "helpful", first, clicks[0])
    await press(bot, "unhelpful", later, clicks[1])
    await press(bot, "helpful", later, clicks[2])
    assert [private_reply(c) for c in clicks] == [
        "Thanks for the feedback!",
        "Thanks for the feedback!",
        "You have already rated this answer. Thanks!",
    ]


async def test_report_queues_the_answer_for_the_moderators_once(bot, fake_service):
    answer = long_answer(6)
    question_id = stored_answer(fake_service, answer, str(member_named("learner").id))
    answer_message = fake_message(channel_named("general"))
    first = interaction_for(
        bot, member_named("classmate"), channel_named("general"), message=answer_message
    )
    await press(bot, "report", question_id, first)
    review_id = fake_service.store.review_for_message(str(answer_message.id))
    review = fake_service.store.get_review(review_id)
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
    assert "already in review" in private_reply(again)
    assert dpytest.verify().message().nothing()


async def test_explain_simpler_answers_the_same_question_in_explain_mode(
    bot, fake_service, fake_model, monkeypatch
):
    answer = long_answer(2)
    answer.question = "What is NF4?"
    question_id = stored_answer(fake_service, answer)
    interaction = interaction_for(bot, member_named("classmate"), channel_named("general"))
    calls = []
    real_ask = fake_service.ask

    async def spy(question, asker, on_text=None, mode="answer"):
        calls.append((question, mode))
        return await real_ask(question, asker, on_text=on_text, mode=mode)

    monkeypatch.setattr(fake_service, "ask", spy)
    asked_before = len(fake_model.requests)
    await press(bot, "simpler", question_id, interaction)
    assert calls == [("What is NF4?", "explain")]
    [request] = fake_model.requests[asked_before:]  # the model was given the explain prompt
    assert request.messages[0]["content"] == rag.SYSTEM_PROMPTS["explain"]
    assert request.messages[-1]["content"].endswith("Question: What is NF4?")
    assert "NF4" in "\n".join(texts(interaction))
    assert_no_pings(interaction)
    # Seen by the presser only, with no buttons of its own: ten presses make no public noise.
    interaction.response.defer.assert_awaited_once_with(thinking=True, ephemeral=True)
    assert all(c.kwargs.get("ephemeral") for c in interaction.followup.send.await_args_list)
    assert "view" not in final_call(interaction).kwargs


async def test_answer_buttons_work_after_a_restart_and_after_the_asker_is_forgotten(
    bot, fake_service, settings
):
    answer = long_answer(2)
    question_id = stored_answer(fake_service, answer, "forget-me")
    restarted = build_bot(fake_service, settings)  # a new process: nothing in memory but setup_hook
    await restarted.setup_hook()
    assert AnswerButton in restarted._connection._view_store._dynamic_items.values()
    restarted.http, restarted._connection = bot.http, bot._connection  # the same (fake) Discord
    interaction = interaction_for(restarted, member_named("classmate"), channel_named("general"))
    await press(restarted, "helpful", question_id, interaction)
    assert "Thanks for the feedback" in interaction.response.send_message.await_args.args[0]

    fake_service.store.forget_user("forget-me")
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
    await ask_cog(bot).nextsteps.callback(ask_cog(bot), interaction, detail=STEPS_DETAIL)
    everything = "\n".join(texts(interaction))
    assert "**Two possible next steps**" in everything
    assert everything.count("Might be wrong because") == 2
    assert "from the sources on this detail" in everything  # the documents' own steps
    assert final_call(interaction).kwargs["embed"].title == "Sources"
    assert_no_pings(interaction)


async def test_a_long_answer_is_split_under_2000_characters_with_no_pings(bot):
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    answer = long_answer(80)
    answer.question_id = 7
    await ask_cog(bot).send_answer(DeferredReply(interaction), answer)
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


async def test_outside_the_allowed_channels_the_bot_points_to_them(bot, fake_service):
    guild = channel_named("general").guild
    fake_service.store.update_guild_settings(
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


async def test_a_failing_model_gets_an_apology_and_a_log_line(bot, fake_model, caplog, monkeypatch):
    def broken(messages):
        raise RuntimeError("the model fell over")

    monkeypatch.setattr(fake_model, "script", broken)
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    with caplog.at_level(logging.ERROR, logger="quantutor.bot"):
        await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question="What is NF4?")
    assert interaction.edit_original_response.await_args.kwargs["content"] == render.APOLOGY
    assert "the model fell over" in caplog.text
    assert bot.admission.waiting == 0  # the queue is free for the next question
    assert_no_pings(interaction)


async def test_a_slow_model_is_reported_as_such(
    bot, fake_service, fake_model, script_draft, monkeypatch
):
    # One long sentence at 0.05 s a word: the draft would take 3 s against a 0.2 s limit.
    script_draft("What is NF4?", " ".join(["NF4"] * 60))
    monkeypatch.setattr(fake_model, "token_delay_s", 0.05)
    limited = fake_service.settings.model_copy(update={"generation_timeout_s": 0.2})
    monkeypatch.setattr(fake_service, "settings", limited)
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question="What is NF4?")
    assert interaction.edit_original_response.await_args.kwargs["content"] == render.TOO_SLOW


# -- bad input to the commands: refused privately, before the queue, changing nothing --


@pytest.mark.parametrize("command", ["ask", "explain", "nextsteps"])
@pytest.mark.parametrize("text", BAD_QUESTIONS.values(), ids=BAD_QUESTIONS.keys())
async def test_bad_text_to_a_command_gets_a_private_refusal_and_no_queue_place(bot, command, text):
    cog = bot.get_cog("Ask")
    interaction = from_learner(bot)
    await getattr(cog, command).callback(cog, interaction, text)
    interaction.response.defer.assert_not_awaited()  # refused before the queue and the model
    assert ("limit" if len(text) > 1000 else "empty") in private_reply(interaction)
    assert_no_pings(interaction)


async def test_mentions_and_masked_links_in_a_question_cannot_ping_or_link(bot, script_draft):
    cog = bot.get_cog("Ask")
    interaction = from_learner(bot, "classmate")
    question = (
        "@everyone <@&123456789012345678> [click me](https://evil.example) "
        "**how many bytes** does an int8 weight take? @here"
    )
    # The model's draft is not cleaned like the question: it repeats the pings and the link,
    # and its number is wrong, so the answer also goes to the moderators.
    script_draft(
        clean_text(question, 1000),
        "An int8 weight takes 4 bytes @everyone, see [click me](https://evil.example) @here [1].",
    )
    await cog.ask.callback(cog, interaction, question)
    contents = [content or "" for _, content, _ in sent(interaction)]
    assert "**What the sources say**" in contents[-1] and render.DRAFTING not in contents[-1]
    assert "An int8 weight takes 4 bytes" in "\n".join(contents)  # the draft was shown
    assert_no_pings(interaction)
    for content in contents:
        assert not LIVE_PING.search(content) and "<@&" not in content
        assert "[click me](" not in content  # the link is shown as text, escaped
    assert any(r"\[click me\]\(https://evil.example\)" in content for content in contents)
    posted = dpytest.get_message()  # the moderators' copy of the flagged answer
    assert posted.channel == channel_named("moderators")
    for text in (posted.content, posted.embeds[0].title, posted.embeds[0].description):
        assert not LIVE_PING.search(text) and "[click me](" not in text


# -- the streamed draft: at most one edit an interval, the newest text, nothing after close


async def test_edits_are_spaced_and_show_the_newest_draft():
    edits = []

    async def edit(text):
        edits.append((time.monotonic(), text))

    stream = DraftStream(edit, interval_s=0.1)
    for n in range(30):
        stream.update(f"draft {n}")
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.15)
    await stream.close()
    times = [t for t, _ in edits]
    assert 2 <= len(edits) <= 5
    assert all(b - a >= 0.095 for a, b in zip(times, times[1:]))
    assert edits[0][1] == "draft 0" and edits[-1][1] == "draft 29"


async def test_nothing_is_edited_after_close():
    edits = []

    async def edit(text):
        edits.append(text)

    stream = DraftStream(edit, interval_s=0.05)
    stream.update("first")
    await asyncio.sleep(0.01)
    stream.update("pending")  # waits for its interval
    await stream.close()
    stream.update("late")  # e.g. a piece still queued on the loop when the answer came
    await asyncio.sleep(0.1)
    assert edits == ["first"]


# -- who is told about a flagged answer: said as it happened ---------------------------


async def test_without_a_moderators_channel_a_flagged_answer_does_not_claim_they_were_asked(
    bot, fake_service, script_draft
):
    guild = channel_named("general").guild
    fake_service.store.update_guild_settings(str(guild.id), mod_channel_id=None)
    script_draft(FLAGGED_QUESTION, FLAGGED_DRAFT)
    interaction = from_learner(bot)
    await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question=FLAGGED_QUESTION)
    everything = "\n".join(texts(interaction))
    assert "have been asked" not in everything
    assert "no moderators' channel is set, so no one has been told yet" in everything
    assert dpytest.verify().message().nothing()  # and indeed nothing was posted


async def test_a_report_without_a_moderators_channel_says_no_one_was_told(bot, fake_service):
    guild = channel_named("general").guild
    fake_service.store.update_guild_settings(str(guild.id), mod_channel_id=None)
    question_id = stored_answer(fake_service, long_answer(2))
    interaction = interaction_for(
        bot,
        member_named("classmate"),
        channel_named("general"),
        message=fake_message(channel_named("general")),
    )
    await press(bot, "report", question_id, interaction)
    told = private_reply(interaction)
    assert "no one has been told yet" in told and "/settings moderators" in told
    assert "will look" not in told and "have been sent" not in told


async def test_a_flagged_answer_in_a_direct_message_names_the_hosts_queue(
    bot, fake_service, script_draft
):
    script_draft(FLAGGED_QUESTION, FLAGGED_DRAFT)
    learner = member_named("learner")
    interaction = interaction_for(bot, learner, dm_channel(learner))
    await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question=FLAGGED_QUESTION)
    everything = "\n".join(texts(interaction))
    assert "review queue of the bot's host" in everything and "have been asked" not in everything
    review = fake_service.store.list_reviews(limit=1000)[-1]
    assert (review.question, review.guild_id) == (FLAGGED_QUESTION, "")  # `quantutor review`

    report = interaction_for(bot, learner, dm_channel(learner), message=fake_message(None))
    await press(bot, "report", stored_answer(fake_service, long_answer(2)), report)
    assert "review queue of the bot's host" in private_reply(report)


async def test_close_waits_for_the_edit_on_its_way_so_it_cannot_land_after_the_answer():
    landed = []

    async def slow_edit(text):
        await asyncio.sleep(0.1)  # the request is on the network
        landed.append(text)

    stream = DraftStream(slow_edit, interval_s=0.05)
    stream.update("preview")
    await asyncio.sleep(0.02)  # the edit has started
    stream.update("newer preview")  # would follow after the interval
    await stream.close()
    landed.append("final answer")  # what the cog sends once close returns
    await asyncio.sleep(0.2)
    assert landed == ["preview", "final answer"]


# -- the interaction's 15 minutes, a long line, and a shutdown mid-answer ---------------


def expired_token() -> discord.HTTPException:
    """What Discord answers an edit once the interaction's token has run out."""
    return discord.HTTPException(
        http_response(401, "Unauthorized"), {"code": 50027, "message": "Invalid Webhook Token"}
    )


async def test_near_the_tokens_end_the_answer_comes_as_a_channel_message(bot, script_draft, caplog):
    script_draft(FLAGGED_QUESTION, FLAGGED_DRAFT)
    interaction = from_learner(bot)
    interaction.created_at = discord.utils.utcnow() - datetime.timedelta(minutes=14, seconds=30)
    with caplog.at_level(logging.INFO, logger="quantutor.bot"):
        await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question=FLAGGED_QUESTION)
    assert texts(interaction)[-1] == render.MOVED_TO_CHANNEL  # the reply says where to look
    answer = dpytest.get_message()
    assert answer.channel == channel_named("general")
    assert answer.content.startswith(f"<@{member_named('learner').id}>, your answer:")
    assert "**What the sources say**" in answer.content and answer.embeds[0].title == "Sources"
    posted = dpytest.get_message()  # the flagged answer still reaches the moderators
    assert posted.channel == channel_named("moderators") and "Review #" in posted.content
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_an_expired_token_moves_the_answer_to_the_channel_without_a_traceback(
    bot, script_draft, caplog
):
    script_draft("What is NF4?", "NF4 is a 4-bit data type [1].")
    interaction = from_learner(bot)
    interaction.edit_original_response.side_effect = expired_token()
    with caplog.at_level(logging.INFO, logger="quantutor.bot"):
        await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question="What is NF4?")
    answer = dpytest.get_message()
    assert answer.channel == channel_named("general") and "**Q:** What is NF4?" in answer.content
    assert interaction.edit_original_response.await_count == 1  # no edit after the refusal
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_question_that_could_not_be_answered_within_15_minutes_is_refused(bot):
    bot.admission = Admission(capacity=30)
    bot.admission.mean_answer_s = 60.0  # llama.cpp or one answer at a time
    before = [bot.admission.admit(f"other-{n}") for n in range(14)]
    interaction = from_learner(bot)
    await ask_cog(bot).ask.callback(ask_cog(bot), interaction, question="What is NF4?")
    interaction.response.defer.assert_not_awaited()
    refusal = private_reply(interaction)
    assert "too busy to answer in time" in refusal and "14 questions are ahead" in refusal
    assert bot.admission.waiting == 13  # its place was given back
    for ticket in before:
        bot.admission.release(ticket)


async def test_the_line_counts_those_waiting_apart_from_those_being_answered(bot, script_draft):
    bot.admission = Admission(capacity=5, workers=2)
    others = [bot.admission.admit(f"other-{n}") for n in range(3)]  # 2 drafting, 1 waiting
    script_draft("What is NF4?", "NF4 is a 4-bit data type [1].")
    interaction = from_learner(bot)
    asking = asyncio.create_task(
        ask_cog(bot).ask.callback(ask_cog(bot), interaction, question="What is NF4?")
    )
    await asyncio.sleep(0.05)
    assert texts(interaction)[0].startswith(
        "⏳ 1 question is waiting ahead of yours and 2 being answered"
    )
    for ticket in others:
        bot.admission.release(ticket)
    await asyncio.wait_for(asking, 30)
    assert "**Q:** What is NF4?" in texts(interaction)[-1]


async def test_a_shutdown_mid_answer_leaves_no_drafting_message(
    bot, fake_model, script_draft, monkeypatch
):
    from bot.cogs import ask

    monkeypatch.setattr(ask, "SHUTDOWN_GRACE_S", 0.1)
    script_draft("What is NF4?", " ".join(["NF4"] * 200))
    monkeypatch.setattr(fake_model, "token_delay_s", 0.05)
    interaction, cog = from_learner(bot), ask_cog(bot)
    asking = asyncio.create_task(cog.ask.callback(cog, interaction, question="What is NF4?"))
    while not any(render.DRAFTING in text for text in texts(interaction)):
        await asyncio.sleep(0.05)
    monkeypatch.setattr(bot, "ws", None)  # dpytest's gateway cannot close; no other fake
    await bot.close()  # what SIGTERM does
    assert asking.done()
    assert texts(interaction)[-1] == render.RESTARTING
    assert bot.admission.waiting == 0 and not cog.in_flight

    late = from_learner(bot, "classmate")  # a question arriving while the bot closes
    await cog.ask.callback(cog, late, question="What is NF4?")
    assert private_reply(late) == render.RESTARTING


# -- autocomplete, through discord.py's dispatch -------------------------------------------


async def test_explain_suggests_the_knowledge_bases_topics_as_a_member_types(bot):
    from tests.helpers.discord_fakes import autocomplete_payload, dispatch

    def typed(text):
        option = {"type": 3, "name": "topic", "value": text, "focused": True}
        return autocomplete_payload(
            bot, member_named("learner"), channel_named("general"), "explain", [option]
        )

    [response] = (await dispatch(bot, typed("gpt"))).calls
    assert response["type"] == 8  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
    names = [choice["name"] for choice in response["data"]["choices"]]
    assert names[0] == "GPTQ" and all("gpt" in name.casefold() for name in names)
    assert all(c["name"] == c["value"] for c in response["data"]["choices"])

    [response] = (await dispatch(bot, typed(""))).calls
    first = [choice["name"] for choice in response["data"]["choices"]]
    assert len(first) == 25 and first[:3] == ["Number formats", "fp32", "fp16"]

    [response] = (await dispatch(bot, typed("zzz no such topic"))).calls
    assert response["data"]["choices"] == []  # nothing matches: the free text still goes


def test_topics_match_every_word_typed_those_starting_with_it_first():
    from bot.cogs.ask import matching_topics

    topics = ["Number formats", "NF4", "NF4 vs FP4: the data types", "QLoRA uses NF4", "x" * 101]
    assert matching_topics(topics, "nf4") == ["NF4", "NF4 vs FP4: the data types", "QLoRA uses NF4"]
    assert matching_topics(topics, "fp4 NF4") == ["NF4 vs FP4: the data types"]
    assert matching_topics(topics, "x") == []  # too long for a choice


async def test_nextsteps_can_be_reported_and_the_moderators_see_the_steps(bot, fake_service):
    from tests.helpers.discord_fakes import command_payload, dispatch, press_payload

    learner, general = member_named("learner"), channel_named("general")
    option = {"type": 3, "name": "detail", "value": STEPS_DETAIL}
    steps = await dispatch(bot, command_payload(bot, learner, general, "nextsteps", [option]))
    final = steps.edits[-1]
    assert "**Two possible next steps**" in final["content"]
    [button] = [b for row in final["components"] for b in row["components"]]
    assert button["custom_id"].startswith("answer:report:") and button["label"].startswith("Report")
    logged = fake_service.store.logged_question(int(button["custom_id"].rsplit(":", 1)[1]))
    assert logged.question == STEPS_DETAIL and logged.answer["kind"] == "steps"

    reporter = member_named("classmate")
    reported = await dispatch(bot, press_payload(bot, reporter, general, button["custom_id"]))
    assert "the moderators have been sent this answer" in reported.followups[-1]["content"]
    post = dpytest.get_message()
    assert post.channel == channel_named("moderators")
    assert f"next steps reported by <@{reporter.id}>" in post.content
    assert "Two possible next steps" in post.embeds[0].description
    assert post.embeds[0].description.count("Might be wrong because") == 2
    assert post.embeds[0].fields[0].name == "Sources"
    review_id = int(post.content.split("#", 1)[1].split("*", 1)[0])
    fake_service.store.resolve_review(review_id, "rejected", "cleanup")  # off the shared queue


async def test_steps_that_cannot_be_stored_are_still_given_without_the_report_button(
    bot, monkeypatch, caplog
):
    async def broken(*args):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(bot.service, "record_steps", broken)
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    with caplog.at_level(logging.ERROR):
        await ask_cog(bot).nextsteps.callback(ask_cog(bot), interaction, detail=STEPS_DETAIL)
    assert "**Two possible next steps**" in "\n".join(texts(interaction))
    assert "view" not in final_call(interaction).kwargs
    assert "were not stored" in caplog.text
