"""The bot's contract with the command line: check, sync and run."""

import asyncio
import json
import logging
import os
import signal

import discord
import discord.ext.test as dpytest
import pytest

from bot.main import TutorBot, command_specs, run_bot, sync_commands
from bot.render import APOLOGY
from tests.helpers.discord_fakes import channel_named, command_payload, dispatch, member_named
from tutor.health import heartbeat_path
from tutor.service import TutorService
from tutor.settings import load_settings


async def test_the_commands_build_without_the_model_or_a_connection(settings):
    secret = "MTIz.never-print-this-token"
    with_token = load_settings(data_dir=settings.data_dir, discord_token=secret)
    specs = await asyncio.to_thread(command_specs, with_token)  # asyncio.run inside
    assert {s["name"] for s in specs} == {
        "ask",
        "explain",
        "nextsteps",
        "quiz",
        "review",
        "settings",
        "lab",
        "memory",
        "help",
        "privacy",
        "Check with quantutor",  # message context menus (type 3)
        "Ask quantutor about this message",
    }
    dumped = json.dumps(specs)
    assert secret not in dumped
    # One permission story: Discord decides who may run /settings (Manage Server by default,
    # Integrations overrides); /review is visible to all, the bot checks the moderator role.
    review = next(s for s in specs if s["name"] == "review")
    assert review["default_member_permissions"] is None
    settings_spec = next(s for s in specs if s["name"] == "settings")
    manage_guild = discord.Permissions(manage_guild=True).value
    assert int(settings_spec["default_member_permissions"]) == manage_guild
    for name in ("ask", "explain", "nextsteps"):  # Discord's client enforces the limit
        [text] = next(s for s in specs if s["name"] == name)["options"]
        assert (text["type"], text["min_length"], text["max_length"]) == (3, 1, 1000)
    privacy = next(s for s in specs if s["name"] == "privacy")  # a member's own data: for all
    assert {o["name"] for o in privacy["options"]} == {"export", "forget"}
    assert privacy["default_member_permissions"] is None
    quiz = next(s for s in specs if s["name"] == "quiz")
    assert {o["name"] for o in quiz["options"]} == {"start", "score", "leaderboard"}


@pytest.mark.parametrize("command", [run_bot, sync_commands])
def test_without_a_token_the_bot_says_what_to_set(command, settings, caplog, monkeypatch):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("QUANTUTOR_DISCORD_TOKEN", raising=False)
    with caplog.at_level(logging.ERROR, logger="quantutor.bot"):
        assert command(load_settings(data_dir=settings.data_dir)) == 2
    assert "QUANTUTOR_DISCORD_TOKEN" in caplog.text


def test_run_bot_logs_ready_with_timings_and_stops_cleanly_on_sigterm(
    settings, fake_service, monkeypatch, caplog
):
    monkeypatch.setattr(TutorService, "start", classmethod(lambda cls, settings: fake_service))
    monkeypatch.setattr(fake_service, "close", lambda: None)  # the session's tutor stays open

    async def login(self, token):
        assert token == "a-token"

    async def connect(self, *, reconnect=True):
        self.dispatch("ready")
        await asyncio.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)
        while not self.is_closed():
            await asyncio.sleep(0.01)

    monkeypatch.setattr(TutorBot, "login", login)
    monkeypatch.setattr(TutorBot, "connect", connect)
    with caplog.at_level(logging.INFO, logger="quantutor.bot"):
        code = run_bot(load_settings(data_dir=settings.data_dir, discord_token="a-token"))
    assert code == 0
    ready = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("ready"))
    assert all(phase in ready for phase in ("index", "model", "verifier", "login", "connect"))
    assert "stopped" in caplog.text
    assert heartbeat_path(settings.data_dir).is_file()  # what the container's health check reads


async def test_a_mention_is_pointed_to_the_slash_commands_without_an_error(bot, caplog):
    from bot.main import MENTION_REPLY

    caplog.set_level(logging.ERROR)
    await dpytest.message(f"<@{bot.user.id}> what is NF4?", member=0)
    reply = dpytest.get_message()
    assert reply.content == MENTION_REPLY
    await dpytest.message("what is NF4? (no mention)", member=0)
    assert dpytest.verify().message().nothing()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_joining_a_server_posts_the_setup_notice_where_the_bot_may_write(bot):
    from bot.main import SETUP_NOTICE

    guild = dpytest.get_config().guilds[0]
    bot.dispatch("guild_join", guild)  # as the gateway's GUILD_CREATE for a new server does
    await dpytest.run_all_events()
    notice = dpytest.get_message()
    assert notice.content == SETUP_NOTICE and "/settings moderators" in notice.content
    assert notice.channel.permissions_for(guild.me).send_messages


# -- through discord.py's own dispatch: the command tree, option conversion, the handler --


async def test_a_channel_the_bot_cannot_see_is_explained_not_apologised_for(bot, caplog):
    unseen = "1577000000000000001"  # a private channel: Discord resolves it, the bot has no copy
    payload = command_payload(
        bot,
        member_named("moderator"),
        channel_named("general"),
        "settings",
        [
            {
                "type": 1,
                "name": "moderators",
                "options": [{"type": 7, "name": "channel", "value": unseen}],
            }
        ],
        permissions=discord.Permissions(manage_guild=True),
        resolved={
            "channels": {unseen: {"id": unseen, "name": "staff", "type": 0, "permissions": "0"}}
        },
    )
    with caplog.at_level(logging.ERROR):
        responses = await dispatch(bot, payload)
    [message] = responses.messages
    assert (
        "I cannot use that channel" in message["content"] and "View Channel" in message["content"]
    )
    assert message["flags"] & discord.MessageFlags(ephemeral=True).value
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_fault_of_the_bot_is_apologised_for_and_logged(bot, caplog, monkeypatch):
    async def broken(*args):
        raise RuntimeError("the store fell over")

    monkeypatch.setattr(bot.service, "guild_settings", broken)
    payload = command_payload(
        bot,
        member_named("moderator"),
        channel_named("general"),
        "settings",
        [{"type": 1, "name": "show", "options": []}],
    )
    with caplog.at_level(logging.ERROR):
        responses = await dispatch(bot, payload)
    assert responses.messages[-1]["content"] == APOLOGY
    assert "the store fell over" in caplog.text


async def test_a_reply_to_an_answer_is_answered_with_the_earlier_question_as_context(
    bot, fake_service, fake_model
):
    from bot.cogs.ask import answer_controls
    from tests.helpers.discord_fakes import fake_message, spec_of
    from tutor.answer import Answer

    general = channel_named("general")
    earlier = fake_service.store.log_question(
        "1", str(general.guild.id), "What is NF4?", False, Answer("What is NF4?").to_dict()
    )
    answer = fake_message(general)  # the bot's answer, its buttons naming the question
    answer.author = bot.user
    answer.components = [discord.ActionRow(row) for row in answer_controls(earlier).to_components()]
    follow = fake_message(general)  # a member's reply to it, with no mention
    follow.author, follow.guild = member_named("learner"), general.guild
    follow.content, follow.mentions = "and how much memory does it save?", []
    follow.reference = spec_of(discord.MessageReference)
    follow.reference.resolved = answer
    follow.reply.side_effect = lambda *a, **k: fake_message(general)
    asked_before = len(fake_model.requests)

    await bot.on_message(follow)

    [request] = fake_model.requests[asked_before:]
    assert "(a follow-up to: What is NF4?)" in request.messages[-1]["content"]
    first = follow.reply.await_args_list[0]
    assert first.args[0].startswith("**Q:** and how much memory does it save?")
    assert first.kwargs["allowed_mentions"].to_dict() == {"parse": []}
