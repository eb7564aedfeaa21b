"""A bot on dpytest's fake Discord (guild, channels, members, messages), with the real tutor
around the scripted model (`fake_service`): these tests are about Discord, not the model."""

import discord
import discord.ext.test as dpytest
import pytest

from bot.main import build_bot
from tests.helpers.discord_fakes import channel_named
from tutor.admission import Admission


@pytest.fixture
async def bot(fake_service, settings):
    bot = build_bot(fake_service, settings, admission=Admission(capacity=5))
    await bot._async_setup_hook()
    # The bot needs no members intent; dpytest's fake guild needs it to keep its members.
    bot._connection._intents.members = True
    bot._connection.member_cache_flags = discord.MemberCacheFlags.all()
    dpytest.configure(
        bot,
        text_channels=["general", "moderators", "elsewhere"],
        voice_channels=0,
        members=["learner", "classmate", "moderator"],
    )
    await bot.setup_hook()
    guild = dpytest.get_config().guilds[0]
    fake_service.store.update_guild_settings(
        str(guild.id), cooldown_s=0, mod_channel_id=channel_named("moderators").id
    )
    yield bot
    await dpytest.empty_queue()
