"""The message context menus, through discord.py's dispatch: "Check with quantutor" tells
the presser each claim's status, reason and source; "Ask quantutor about this message"."""

import discord
import discord.ext.test as dpytest

from tests.helpers.discord_fakes import channel_named, dispatch, member_named, message_menu_payload

EPHEMERAL = discord.MessageFlags(ephemeral=True).value


async def a_message(text: str) -> discord.Message:
    return await dpytest.message(text, channel=channel_named("general"), member=1)


async def test_check_with_quantutor_tells_each_claims_status_reason_and_source(bot):
    message = await a_message(
        "int8 quantization stores each weight in 8 bits. int4 is always lossless for every model."
    )
    payload = message_menu_payload(
        bot, member_named("learner"), channel_named("general"), "Check with quantutor", message
    )
    responses = await dispatch(bot, payload)
    assert responses.calls[0]["type"] == 5  # deferred: the verifier takes a moment
    assert responses.calls[0]["data"]["flags"] & EPHEMERAL
    [report] = responses.followups
    assert report["flags"] & EPHEMERAL  # told to the presser only
    text = report["content"]
    assert "stores each weight in 8 bits" in text and "always lossless" in text
    assert text.count("> *Source: ") >= 1
    lines = text.splitlines()
    lossless = next(i for i, line in enumerate(lines) if "always lossless" in line)
    assert not lines[lossless].startswith("✅")  # the false claim is not passed as supported
    assert lines[lossless + 1].startswith("> ")  # with its reason
    assert report["allowed_mentions"] == {"parse": []}


async def test_a_message_with_no_text_is_explained(bot):
    message = await a_message("🙂")
    payload = message_menu_payload(
        bot, member_named("learner"), channel_named("general"), "Check with quantutor", message
    )
    responses = await dispatch(bot, payload)
    [told] = responses.messages
    assert "no text I can check" in told["content"] or "no sentence" in told["content"]
    assert told["flags"] & EPHEMERAL


async def test_ask_about_this_message_answers_it_like_ask(bot):
    message = await a_message("What is NF4?")
    payload = message_menu_payload(
        bot,
        member_named("learner"),
        channel_named("general"),
        "Ask quantutor about this message",
        message,
    )
    responses = await dispatch(bot, payload)
    assert responses.calls[0]["type"] == 5  # deferred, public like /ask
    assert not (responses.calls[0].get("data") or {}).get("flags")
    assert "**Q:** What is NF4?" in responses.edits[-1]["content"]
    assert "**What the sources say**" in responses.edits[-1]["content"]
