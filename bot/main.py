"""Building, checking, syncing and running the Discord bot.

The CLI calls these: `quantutor discord --check` -> command_specs, `quantutor discord
--sync` -> sync_commands, `quantutor run` with a token -> run_bot.
"""

import asyncio
import logging
import re
import signal
import time

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.cogs.admin import AdminCog
from bot.cogs.ask import AnswerButton, AskCog
from bot.cogs.check import CheckCog
from bot.cogs.common import USER_ERRORS
from bot.cogs.memory import MemoryCog
from bot.cogs.privacy import ForgetButton, PrivacyCog
from bot.cogs.quiz import QuizButton, QuizCog
from bot.cogs.review import ReviewButton, ReviewCog
from bot.render import APOLOGY, NO_MENTIONS
from tutor.admission import Admission, LoopLag
from tutor.health import HEARTBEAT_S, write_heartbeat
from tutor.logs import describe_phases
from tutor.settings import Settings

log = logging.getLogger("quantutor.bot")

MENTION_REPLY = (
    "Ask me with **/ask** (for example `/ask question: What is NF4?`), or **/explain**, "
    "**/nextsteps** and **/quiz start**."
)
SETUP_NOTICE = (
    "👋 Thanks for adding quantutor. Members can ask with **/ask**, **/explain**, "
    "**/nextsteps** and **/quiz start**.\n"
    "**Administrators:** no moderators' channel is set yet, so answers the verifier flags "
    "(and answers members report) wait in the queue with no one told. Pick a channel and a "
    "role with **/settings moderators**; **/settings channel** limits where I answer."
)
ANSWER_ID = re.compile(r"answer:\w+:(?P<id>\d+)")  # the buttons under an answer
QUEUE_CAPACITY = 30  # waiting questions; at ~8 s each, the last starts within the 15-min token


class TutorBot(commands.Bot):
    def __init__(self, service, settings: Settings, admission: Admission | None = None):
        super().__init__(
            command_prefix=_no_prefix,  # slash commands only: no message content needed
            intents=discord.Intents.default(),
            allowed_mentions=NO_MENTIONS,
            help_command=None,
        )
        self.service = service
        self.settings = settings
        # As many answers in flight as the model worker drafts in one batch.
        self.admission = admission or Admission(QUEUE_CAPACITY, workers=settings.max_batch)
        self.lag = LoopLag()
        self.startup_s: dict[str, float] = {}  # seconds per start-up phase, logged when ready
        self.connecting_since: float | None = None
        self.tree.error(self.on_app_command_error)

    async def setup_hook(self) -> None:
        cogs = (AskCog, MemoryCog, QuizCog, ReviewCog, AdminCog, CheckCog, PrivacyCog)
        for cog in cogs:
            await self.add_cog(cog(self))
        # One registration serves every answer, review, quiz and privacy button ever posted.
        self.add_dynamic_items(AnswerButton, ReviewButton, QuizButton, ForgetButton)

    async def on_message(self, message: discord.Message) -> None:
        """A reply to one of the bot's answers is a follow-up, answered with the earlier
        question as context; a mention gets a pointer to the slash commands."""
        if message.author.bot or self.user is None:
            return
        previous = await self._question_answered_by(message.reference)
        if previous is not None and message.content.strip():
            await self.get_cog("Ask").follow_up(message, previous)
            return
        if self.user not in message.mentions:
            return
        try:
            await message.reply(MENTION_REPLY, mention_author=False, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:  # no right to post here: nothing to tell
            log.info("could not answer a mention in %s: %s", message.channel.id, error)

    async def _question_answered_by(self, reference: discord.MessageReference | None):
        """The question a replied-to answer of the bot's answers (found from its buttons)."""
        replied = reference.resolved if reference is not None else None
        if not isinstance(replied, discord.Message) or replied.author != self.user:
            return None
        for row in replied.components:
            for item in getattr(row, "children", ()):
                found = ANSWER_ID.fullmatch(getattr(item, "custom_id", None) or "")
                if found:
                    logged = await self.service.logged_question(int(found["id"]))
                    return logged.question if logged is not None else None
        return None

    async def on_guild_join(self, guild: discord.Guild) -> None:
        """Tell a new server's administrators what to set up, where the bot may post."""
        channels = [guild.system_channel, *guild.text_channels]
        here = next(
            (c for c in channels if c is not None and c.permissions_for(guild.me).send_messages),
            None,
        )
        if here is None:
            log.info("joined server %s: no channel to post the setup notice in", guild.id)
            return
        try:
            await here.send(SETUP_NOTICE, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:
            log.info("joined server %s: setup notice not posted (%s)", guild.id, error)

    async def close(self) -> None:
        """Finish or finalise the answers in flight (none stays "Drafting…"), then close."""
        ask = self.get_cog("Ask")
        if ask is not None:
            await ask.finish_in_flight()
        await super().close()

    @tasks.loop(seconds=HEARTBEAT_S)
    async def heartbeat(self) -> None:
        """Proof for `quantutor health` that the loop turns and the bot is connected."""
        write_heartbeat(
            self.settings.data_dir,
            ready=self.is_ready() and not self.is_closed(),
            pending=self.service.worker.pending,
        )

    async def on_ready(self) -> None:
        if self.connecting_since is None:
            return  # a reconnect, not a start
        self.startup_s["connect"] = time.perf_counter() - self.connecting_since
        self.connecting_since = None
        log.info(
            "ready as %s in %d servers (%s)",
            self.user,
            len(self.guilds),
            describe_phases(self.startup_s),
        )

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Anything a command did not handle itself: the member's own mistake is told as
        such; anything else is logged and apologised for, and the bot keeps running."""
        text = user_error_text(error)
        if text is None:
            log.error("command %s failed", interaction.command, exc_info=error)
            text = APOLOGY
        send = (
            interaction.followup.send
            if interaction.response.is_done()
            else interaction.response.send_message
        )
        try:
            await send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            pass  # the interaction has expired; the log line is what is left


def user_error_text(error: app_commands.AppCommandError) -> str | None:
    """What the member did wrong, in words, or None when the fault is the bot's."""
    if isinstance(error, app_commands.TransformerError):
        if error.type is discord.AppCommandOptionType.channel:
            return (
                "I cannot use that channel: I cannot see it, or it is not a kind of channel "
                "this option takes. Give me View Channel there, or pick another one."
            )
        return f"I could not read {str(error.value)[:100]!r} for that option; please check it."
    if isinstance(error, (app_commands.CheckFailure, app_commands.CommandOnCooldown)):
        return str(error)  # discord.py's words name what is missing or how long to wait
    if isinstance(error, app_commands.CommandInvokeError) and isinstance(
        error.original, USER_ERRORS
    ):
        return str(error.original)
    return None


def _no_prefix(bot, message) -> list[str]:
    return []  # no prefix commands: a mention is answered by on_message


def build_bot(service, settings: Settings, admission: Admission | None = None) -> TutorBot:
    """The bot with its cogs added in setup_hook; with service None it can only be inspected."""
    return TutorBot(service, settings, admission)


def command_specs(settings: Settings) -> list[dict]:
    """The application commands as Discord receives them, built without a connection."""

    async def specs() -> list[dict]:
        bot = build_bot(None, settings)
        await bot.setup_hook()
        return [command.to_dict(bot.tree) for command in bot.tree.get_commands()]

    return asyncio.run(specs())


def sync_commands(settings: Settings) -> int:
    """Register the commands with Discord (needed once, and after commands change)."""
    token = _token(settings)
    if token is None:
        return 2

    async def sync() -> int:
        async with build_bot(None, settings) as bot:
            await bot.login(token)
            synced = await bot.tree.sync()
        print(f"Synced {len(synced)} application commands: {', '.join(c.name for c in synced)}.")
        return 0

    try:
        return asyncio.run(sync())
    except discord.LoginFailure:
        log.error("Discord rejected the token: check QUANTUTOR_DISCORD_TOKEN.")
        return 2


def run_bot(settings: Settings) -> int:
    """Start the tutor, then the bot; close both cleanly on Ctrl-C or SIGTERM."""
    from tutor.service import TutorService

    token = _token(settings)
    if token is None:
        return 2
    logging.getLogger("quantutor").setLevel(logging.INFO)  # "ready" and the queue's warnings
    service = TutorService.start(settings)
    startup = dict(service.startup_s)
    try:
        return asyncio.run(_serve(service, settings, token, startup))
    except KeyboardInterrupt:
        return 0
    except discord.LoginFailure:
        log.error("Discord rejected the token: check QUANTUTOR_DISCORD_TOKEN.")
        return 2
    finally:
        service.close()


async def _serve(service, settings: Settings, token: str, startup: dict[str, float]) -> int:
    bot = build_bot(service, settings)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(bot.close()))
    async with bot:
        mark = time.perf_counter()
        await bot.login(token)
        bot.startup_s = {**startup, "login": time.perf_counter() - mark}
        bot.connecting_since = time.perf_counter()
        bot.lag.start()
        bot.heartbeat.start()
        await bot.connect()
    bot.heartbeat.cancel()
    await bot.lag.stop()
    log.info("stopped")
    return 0


def _token(settings: Settings) -> str | None:
    if settings.discord_token is None:
        log.error("Set QUANTUTOR_DISCORD_TOKEN (or DISCORD_TOKEN) to the bot's token.")
        return None
    return settings.discord_token.get_secret_value()
