"""/settings (per server; Manage Server by default) and /lab (the latest measurements)."""

import asyncio

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.cogs.common import GuildConfig, Refusal, config_for, reply, user_errors

NO_LAB = (
    "There are no lab measurements yet. The host can run `quantutor lab` to measure the "
    "model's memory, speed and quality per precision (bf16, int8, nf4); /lab then shows "
    "the table and the chart."
)


class AdminCog(commands.Cog, name="Admin"):
    # Who may run /settings is Discord's to say: Manage Server by default, changed per role
    # or member in Server Settings → Integrations. Discord checks it before the interaction
    # reaches the bot, so the bot does not check again (it cannot see the Integrations grant).
    settings = app_commands.Group(
        name="settings",
        description="The tutor's settings on this server (Manage Server, unless changed).",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @settings.command(name="show", description="This server's tutor settings.")
    async def settings_show(self, interaction: discord.Interaction) -> None:
        async with user_errors(interaction):
            await reply(interaction, describe(await config_for(interaction)))

    @settings.command(name="moderators", description="Where flagged answers go, and who reviews.")
    @app_commands.describe(
        channel="the moderators' channel for flagged answers",
        role="members with this role may approve, reject and correct",
    )
    async def settings_moderators(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | None = None,
        role: discord.Role | None = None,
    ) -> None:
        async with user_errors(interaction):
            changes = {}
            if channel is not None:
                _require_posting(channel)
                changes["mod_channel_id"] = channel.id
            if role is not None:
                changes["mod_role_id"] = role.id
            if not changes:
                raise Refusal("Give a channel, a role, or both.")
            await self._save(interaction, **changes)

    @settings.command(name="channel", description="Allow or stop answers in a channel.")
    @app_commands.describe(
        channel="a text channel, or a forum (its posts count)",
        answer="True: answer there; False: stop. With no channel allowed, I answer everywhere.",
    )
    async def settings_channel(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | discord.ForumChannel,
        answer: bool,
    ) -> None:
        async with user_errors(interaction):
            allowed = set((await config_for(interaction)).ask_channel_ids)
            allowed = allowed | {channel.id} if answer else allowed - {channel.id}
            await self._save(interaction, ask_channel_ids=sorted(allowed))

    @settings.command(name="cooldown", description="Seconds each member waits between questions.")
    async def settings_cooldown(
        self, interaction: discord.Interaction, seconds: app_commands.Range[int, 0, 3600]
    ) -> None:
        async with user_errors(interaction):
            await self._save(interaction, cooldown_s=seconds)

    async def _save(self, interaction: discord.Interaction, **changes) -> None:
        stored = await self.bot.service.update_guild_settings(str(interaction.guild_id), **changes)
        await reply(interaction, "Saved.\n" + describe(GuildConfig.from_stored(stored)))

    @app_commands.command(
        name="lab", description="The latest measurements of the model per precision."
    )
    async def lab(self, interaction: discord.Interaction) -> None:
        async with user_errors(interaction):
            report = await asyncio.to_thread(self.bot.service.lab_report)
            if report is None:
                await reply(interaction, NO_LAB)
                return
            await interaction.response.defer(thinking=True)
            table, chart = report
            pieces = render.code_blocks(table)
            for index, piece in enumerate(pieces):
                final = index == len(pieces) - 1
                files = [discord.File(chart, filename="lab.png")] if final and chart else []
                await interaction.followup.send(
                    piece, files=files, allowed_mentions=render.NO_MENTIONS
                )


def describe(config: GuildConfig) -> str:
    def channel(channel_id):
        return f"<#{channel_id}>" if channel_id else "not set"

    where = ", ".join(map(channel, config.ask_channel_ids)) or "every channel"
    role = f"<@&{config.mod_role_id}>" if config.mod_role_id else "not set"
    return (
        f"**Moderators' channel:** {channel(config.mod_channel_id)}\n"
        f"**Moderator role:** {role} (Manage Messages also counts)\n"
        f"**Answers in:** {where}\n"
        f"**Cooldown:** {config.cooldown_s} s between questions per member"
    )


# What the moderators' posts need: to see the channel, post, and show the answer's embed.
POSTING = discord.Permissions(view_channel=True, send_messages=True, embed_links=True)


def _require_posting(channel: discord.TextChannel) -> None:
    """Refuse a moderators' channel the bot could not post the flagged answers in."""
    have = channel.permissions_for(channel.guild.me)
    missing = [name for name, needed in POSTING if needed and not getattr(have, name)]
    if missing:
        names = ", ".join(name.replace("_", " ").title() for name in missing)
        raise Refusal(
            f"I cannot post in {channel.mention}: give me {names} there, then try again. "
            "Nothing was saved."
        )
