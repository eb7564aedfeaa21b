"""What every cog shares: per-server settings, replies without pings, friendly errors."""

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot.render import APOLOGY, NO_MENTIONS
from quiz.engine import QuizError
from tutor.answer import Asker
from tutor.errors import AdmissionError, GuardError, ReviewError

if TYPE_CHECKING:
    from tutor.service import TutorService

log = logging.getLogger("quantutor.bot")

DEFAULT_COOLDOWN_S = 20


class Refusal(Exception):
    """Something the user asked for that the bot declines; the message says why."""


# Errors whose message is written for the user; anything else gets an apology and a log line.
USER_ERRORS = (Refusal, GuardError, QuizError, ReviewError, AdmissionError)


@dataclass(frozen=True)
class GuildConfig:
    """One server's settings, as /settings stores them."""

    mod_channel_id: int | None = None
    mod_role_id: int | None = None
    ask_channel_ids: tuple[int, ...] = ()
    cooldown_s: int = DEFAULT_COOLDOWN_S

    @classmethod
    async def load(cls, service: "TutorService", guild_id: int | None) -> "GuildConfig":
        """The server's settings, read through the service (off the event loop)."""
        if guild_id is None:
            return cls()
        return cls.from_stored(await service.guild_settings(str(guild_id)))

    @classmethod
    def from_stored(cls, stored: dict) -> "GuildConfig":
        return cls(
            mod_channel_id=stored.get("mod_channel_id"),
            mod_role_id=stored.get("mod_role_id"),
            ask_channel_ids=tuple(stored.get("ask_channel_ids", ())),
            cooldown_s=stored.get("cooldown_s", DEFAULT_COOLDOWN_S),
        )

    def check_channel(self, channel) -> None:
        """Refuse where the server has not allowed answers (a thread counts as its parent)."""
        if not self.ask_channel_ids:
            return
        if {getattr(channel, "id", None), getattr(channel, "parent_id", None)} & set(
            self.ask_channel_ids
        ):
            return
        where = ", ".join(f"<#{channel_id}>" for channel_id in self.ask_channel_ids)
        raise Refusal(f"On this server I answer questions in {where}. Please ask me there.")


async def config_for(interaction: discord.Interaction) -> GuildConfig:
    return await GuildConfig.load(interaction.client.service, interaction.guild_id)


def asker_of(interaction: discord.Interaction) -> Asker:
    return Asker(
        user_id=str(interaction.user.id),
        guild_id=str(interaction.guild_id or ""),
        channel_id=str(interaction.channel_id or ""),
    )


def is_moderator(interaction: discord.Interaction, config: GuildConfig) -> bool:
    """The configured moderator role, or the Manage Messages permission here."""
    if interaction.permissions.manage_messages:
        return True
    roles = getattr(interaction.user, "roles", ())
    return config.mod_role_id is not None and any(r.id == config.mod_role_id for r in roles)


def require_moderator(interaction: discord.Interaction, config: GuildConfig) -> None:
    if not is_moderator(interaction, config):
        raise Refusal(
            "Only moderators can do that: members with this server's moderator role "
            "or the Manage Messages permission. Nothing was changed."
        )


async def reply(interaction: discord.Interaction, content: str | None = None, **kwargs) -> None:
    """Answer the interaction (ephemeral unless told otherwise), whether or not it was deferred."""
    kwargs.setdefault("ephemeral", True)
    kwargs["allowed_mentions"] = NO_MENTIONS
    if interaction.response.is_done():
        await interaction.followup.send(content, **kwargs)
    else:
        await interaction.response.send_message(content, **kwargs)


async def edit_reply(interaction: discord.Interaction, content: str, **kwargs):
    """Replace the deferred (or streamed) public reply."""
    return await interaction.edit_original_response(
        content=content, allowed_mentions=NO_MENTIONS, **kwargs
    )


@asynccontextmanager
async def user_errors(interaction: discord.Interaction):
    """Errors meant for the user are told to them; anything else is logged and apologised for."""
    try:
        yield
    except USER_ERRORS as error:
        await reply(interaction, str(error))
    except Exception:
        log.exception("interaction %s failed", _describe(interaction))
        await reply(interaction, APOLOGY)


def _describe(interaction: discord.Interaction) -> str:
    command = getattr(interaction.command, "qualified_name", None)
    custom_id = (interaction.data or {}).get("custom_id")
    return f"{command or custom_id or interaction.type} by user {interaction.user.id}"
