"""/help (what the bot does, its commands and menus, what it stores) and /privacy: a
member's own data exported as a JSON file, or forgotten after a confirm button."""

import io
import json

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.cogs.common import Refusal, reply, user_errors

EXPORT_LIMIT = 8 * 1024 * 1024  # bytes: an attachment every server accepts from a bot


class PrivacyCog(commands.Cog, name="Privacy"):
    privacy = app_commands.Group(
        name="privacy", description="Your data stored by the tutor: export it or delete it."
    )

    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @property
    def service(self):
        return self.bot.service

    @app_commands.command(name="help", description="What the tutor does, its commands, your data.")
    async def help(self, interaction: discord.Interaction) -> None:
        async with user_errors(interaction):
            await reply(interaction, embed=render.help_embed(*command_lines(self.bot.tree)))

    @privacy.command(name="export", description="Everything stored about you, as a JSON file.")
    async def privacy_export(self, interaction: discord.Interaction) -> None:
        async with user_errors(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            user_id = str(interaction.user.id)
            data = await self.service.member_data(user_id)
            body = json.dumps(data, indent=2, ensure_ascii=False, default=str).encode()
            if len(body) > EXPORT_LIMIT:
                raise Refusal(
                    f"Your data is {len(body) // 1_000_000} MB, more than I can attach here. "
                    f"The bot's host can export it with `quantutor export-user {user_id}`."
                )
            stored = sum(len(rows) for rows in data.values())
            await reply(
                interaction,
                render.export_text(stored),
                file=discord.File(io.BytesIO(body), filename=f"quantutor-data-{user_id}.json"),
            )

    @privacy.command(name="forget", description="Delete what the tutor stores about you.")
    async def privacy_forget(self, interaction: discord.Interaction) -> None:
        async with user_errors(interaction):
            counts = await self.service.member_data_counts(str(interaction.user.id))
            if not any(counts.values()):
                await reply(interaction, "I store nothing about you: there is nothing to delete.")
                return
            await reply(
                interaction,
                render.forget_question(counts),
                view=forget_controls(interaction.user.id),
            )

    async def press(self, interaction: discord.Interaction, action: str, user_id: int) -> None:
        """The confirm (or cancel) button under /privacy forget's question."""
        async with user_errors(interaction):
            if interaction.user.id != user_id:
                raise Refusal("Only the member who asked can confirm this; nothing was deleted.")
            if action == "cancel":
                text = "Cancelled: nothing was deleted."
            else:
                text = render.forgotten_text(await self.service.forget_member(str(user_id)))
            await interaction.response.edit_message(
                content=text, view=None, allowed_mentions=render.NO_MENTIONS
            )


class ForgetButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"privacy:(?P<action>forget|cancel):(?P<user>\d+)",
):
    """Confirm or cancel /privacy forget; the custom_id names the member, so a press also
    works after a restart and is refused from anyone else."""

    LOOKS = {
        "forget": ("Delete my data", discord.ButtonStyle.danger),
        "cancel": ("Cancel", discord.ButtonStyle.secondary),
    }

    def __init__(self, action: str, user_id: int):
        label, style = self.LOOKS[action]
        super().__init__(
            discord.ui.Button(label=label, style=style, custom_id=f"privacy:{action}:{user_id}")
        )
        self.action = action
        self.user_id = user_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match) -> "ForgetButton":
        return cls(match["action"], int(match["user"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.client.get_cog("Privacy").press(interaction, self.action, self.user_id)


def forget_controls(user_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ForgetButton.LOOKS:
        view.add_item(ForgetButton(action, user_id))
    return view


def command_lines(tree: app_commands.CommandTree) -> tuple[list[tuple[str, str]], list[str]]:
    """Every slash command (subcommands named one by one) and every message menu, as the
    tree holds them: the help can never list a command that is not there."""
    commands_, menus = [], []
    for command in sorted(tree.get_commands(), key=lambda c: c.name):
        if isinstance(command, app_commands.ContextMenu):
            menus.append(command.name)
        elif isinstance(command, app_commands.Group):
            for sub in command.commands:
                commands_.append((f"/{command.name} {sub.name}", sub.description))
        else:
            commands_.append((f"/{command.name}", command.description))
    return commands_, menus
