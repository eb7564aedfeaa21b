"""/settings for administrators, and /lab."""

import asyncio

import discord
import discord.ext.test.backend as dpytest_backend
import pytest

from bot.cogs.admin import NO_LAB
from tests.helpers.discord_fakes import (
    assert_no_pings,
    channel_named,
    interaction_for,
    member_named,
    private_reply,
)
from tutor.lab.report import lab_files

ADMIN = discord.Permissions(administrator=True)


def admin_cog(bot):
    return bot.get_cog("Admin")


def as_admin(bot, permissions=ADMIN):
    return interaction_for(
        bot, member_named("moderator"), channel_named("general"), permissions=permissions
    )


async def test_administrators_set_moderators_channels_and_cooldown(bot, fake_service):
    cog, guild = admin_cog(bot), channel_named("general").guild
    role = guild.default_role
    await cog.settings_moderators.callback(
        cog, as_admin(bot), channel=channel_named("moderators"), role=role
    )
    await cog.settings_channel.callback(
        cog, as_admin(bot), channel=channel_named("general"), answer=True
    )
    await cog.settings_cooldown.callback(cog, as_admin(bot), seconds=45)
    shown = as_admin(bot)
    await cog.settings_show.callback(cog, shown)
    stored = fake_service.store.guild_settings(str(guild.id))
    assert stored["mod_channel_id"] == channel_named("moderators").id
    assert stored["mod_role_id"] == role.id
    assert stored["ask_channel_ids"] == [channel_named("general").id]
    assert stored["cooldown_s"] == 45
    text = private_reply(shown)
    assert f"<#{channel_named('general').id}>" in text and "45 s" in text
    assert_no_pings(shown)

    await cog.settings_channel.callback(
        cog, as_admin(bot), channel=channel_named("general"), answer=False
    )
    assert fake_service.store.guild_settings(str(guild.id))["ask_channel_ids"] == []


async def test_a_member_discord_lets_run_settings_is_not_refused_again(bot, fake_service):
    # An administrator granted /settings to a member in Integrations: Discord delivers the
    # interaction, and the member has neither Administrator nor Manage Server.
    cog, guild = admin_cog(bot), channel_named("general").guild
    granted = as_admin(bot, permissions=discord.Permissions.none())
    await cog.settings_cooldown.callback(cog, granted, seconds=7)
    assert "Saved." in private_reply(granted)
    assert fake_service.store.guild_settings(str(guild.id))["cooldown_s"] == 7


async def test_lab_reports_what_is_available(bot, fake_service, monkeypatch, tmp_path):
    cog = admin_cog(bot)
    if not hasattr(fake_service, "lab_report"):
        monkeypatch.setattr(fake_service, "lab_report", lambda: None, raising=False)
    report = fake_service.lab_report()
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    await cog.lab.callback(cog, interaction)
    if report is None:
        assert private_reply(interaction) == NO_LAB
        return
    table, chart = report
    pieces = [call.args[0] for call in interaction.followup.send.await_args_list]
    assert all(piece.startswith("```") and len(piece) <= 2000 for piece in pieces)
    if chart is not None:
        assert interaction.followup.send.await_args.kwargs["files"][0].filename == "lab.png"


@pytest.fixture
def lab_report_files(settings):
    """Where `quantutor lab` writes its latest report (chart, Markdown), removed afterwards."""
    chart, markdown, _ = lab_files(settings)
    yield chart, markdown
    chart.unlink(missing_ok=True)
    markdown.unlink(missing_ok=True)


async def test_lab_shows_the_table_and_the_chart(bot, lab_report_files):
    chart, markdown = lab_report_files  # as a lab run leaves them
    chart.write_bytes(b"\x89PNG\r\n\x1a\n")
    table = "| precision | MB |\n|---|---|\n" + "\n".join(f"| nf4 | {i} |" for i in range(300))
    markdown.write_text(table, encoding="utf-8")
    interaction = interaction_for(bot, member_named("learner"), channel_named("general"))
    await admin_cog(bot).lab.callback(admin_cog(bot), interaction)
    calls = interaction.followup.send.await_args_list
    assert len(calls) > 1 and all(len(c.args[0]) <= 2000 for c in calls)
    assert calls[-1].kwargs["files"][0].filename == "lab.png"
    assert_no_pings(interaction)


async def test_a_moderators_channel_the_bot_cannot_post_in_is_refused(bot, fake_service):
    cog, guild = admin_cog(bot), channel_named("general").guild
    hidden = channel_named("elsewhere")
    # The server's own change, as the gateway's CHANNEL_UPDATE brings it: a read-only channel.
    dpytest_backend.update_text_channel(
        hidden, guild.default_role, discord.PermissionOverwrite(send_messages=False)
    )
    assert not hidden.permissions_for(guild.me).send_messages
    before = fake_service.store.guild_settings(str(guild.id))
    interaction = as_admin(bot)
    await cog.settings_moderators.callback(cog, interaction, channel=hidden, role=None)
    told = private_reply(interaction)
    assert f"I cannot post in {hidden.mention}" in told and "Send Messages" in told
    assert "Nothing was saved" in told
    assert fake_service.store.guild_settings(str(guild.id)) == before


async def test_settings_channel_offers_forums_as_well_as_text_channels(settings):
    from bot.main import command_specs

    specs = await asyncio.to_thread(command_specs, settings)
    group = next(s for s in specs if s["name"] == "settings")
    channel_command = next(o for o in group["options"] if o["name"] == "channel")
    option = next(o for o in channel_command["options"] if o["name"] == "channel")
    offered = set(option["channel_types"])
    assert {discord.ChannelType.text.value, discord.ChannelType.forum.value} <= offered
