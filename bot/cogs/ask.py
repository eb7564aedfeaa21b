"""/ask, /explain and /nextsteps: queued for the model, streamed, then the checked answer."""

import asyncio
import datetime
import logging
import time
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.cogs.common import (
    USER_ERRORS,
    GuildConfig,
    Refusal,
    asker_of,
    config_for,
    edit_reply,
    reply,
    user_errors,
)
from tutor.admission import describe_wait
from tutor.answer import Answer, Asker
from tutor.errors import GuardError
from tutor.guard import clean_text
from tutor.settings import Settings
from tutor.storage import LoggedQuestion

log = logging.getLogger("quantutor.bot")

EDIT_INTERVAL_S = 1.0  # Discord rate-limits message edits; one a second stays well inside
TOKEN_LIFE_S = 15 * 60  # an interaction's replies can be edited for 15 minutes, then never
TOKEN_MARGIN_S = 60  # before then, the reply says the answer will come in the channel
SHUTDOWN_GRACE_S = 8.0  # on SIGTERM, answers this close to done are finished, others told
# Discord's client stops a longer text before it is sent (a host's lower limit is told).
MAX_TEXT = Settings.model_fields["max_question_chars"].default
TEXT_OPTION = app_commands.Range[str, 1, MAX_TEXT]
CHOICES = 25  # Discord shows at most 25 autocomplete choices
BUTTON_LOOKS = {
    "helpful": ("Helpful", "👍", discord.ButtonStyle.success),
    "unhelpful": ("Not helpful", "👎", discord.ButtonStyle.secondary),
    "simpler": ("Explain simpler", "🧒", discord.ButtonStyle.primary),
    "report": ("Report to moderators", "🚩", discord.ButtonStyle.danger),
}


class DraftStream:
    """Shows the draft as the model writes it, editing the reply at most once an interval."""

    def __init__(self, edit: Callable[[str], Awaitable], interval_s: float = EDIT_INTERVAL_S):
        self._edit = edit
        self._interval_s = interval_s
        self._latest = ""
        self._shown = ""
        self._last_edit = float("-inf")
        self._task: asyncio.Task | None = None
        self._editing = False
        self._closed = False

    def update(self, text: str) -> None:
        """Called on the loop with the whole draft so far; never waits."""
        if self._closed:
            return  # a piece that arrived after the final answer must not overwrite it
        self._latest = text
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._latest != self._shown and not self._closed:
            await asyncio.sleep(max(0.0, self._last_edit + self._interval_s - time.monotonic()))
            text, self._last_edit = self._latest, time.monotonic()
            self._editing = True
            try:
                await self._edit(text)
            except discord.HTTPException as error:  # a lost preview is not worth failing over
                log.debug("draft edit failed: %s", error)
            finally:
                self._editing = False
            self._shown = text

    async def close(self) -> None:
        """Stop streaming, so that no late preview can overwrite the final answer: a preview
        waiting for its interval is dropped; one already on its way is waited for (cancelled,
        its request could still reach Discord after the final answer)."""
        self._closed = True
        if self._task is None:
            return
        if not self._editing:
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class DeferredReply:
    """The deferred reply to one question, for as long as Discord lets it be edited.

    Near the end of the interaction token's 15 minutes (or once an edit is refused because
    it has ended) the reply says so, and a public answer is posted as a new channel message
    (a private one cannot be: only the token reaches it).
    """

    def __init__(self, interaction: discord.Interaction, private: bool = False):
        self.interaction = interaction
        self.private = private
        self.moved = False  # to the channel: the token has (nearly) run out
        self.task = asyncio.current_task()
        expires = interaction.created_at + datetime.timedelta(seconds=TOKEN_LIFE_S)
        left = (expires - discord.utils.utcnow()).total_seconds() - TOKEN_MARGIN_S
        self._timer = asyncio.get_running_loop().call_later(max(0.0, left), self._near_expiry)

    def _near_expiry(self) -> None:
        asyncio.get_running_loop().create_task(self._move())

    async def _move(self) -> None:
        if self.moved:
            return
        try:
            await self.edit(render.MOVED_TO_CHANNEL, embed=None, view=None)
        except discord.HTTPException as error:  # the answer still goes to the channel
            log.info("could not tell %s the answer moves to the channel: %s", self.who, error)
        self.moved = True

    async def edit(self, content: str, **kwargs) -> discord.Message | None:
        """Edit the reply; None once the answer goes to the channel instead."""
        if self.moved:
            return None
        try:
            return await edit_reply(self.interaction, content, **kwargs)
        except (discord.NotFound, discord.Forbidden) as error:  # the token has run out
            log.info("reply to %s not editable (%s): answering in the channel", self.who, error)
            self.moved = True
        except discord.HTTPException as error:
            if error.status != 401:  # 401: an invalid (expired) webhook token
                raise
            log.info("reply to %s expired (%s): answering in the channel", self.who, error)
            self.moved = True
        return None

    async def send(self, pieces: list[str], extras: dict) -> discord.Message | None:
        """The answer as new channel messages (extras on the last); None if it cannot post."""
        if self.private:
            log.info("the private answer for %s expired before it was ready", self.who)
            return None
        channel = self.interaction.channel
        user = self.interaction.user
        pieces = [f"{user.mention}, your answer:\n{pieces[0]}", *pieces[1:]]
        message = None
        try:
            for index, piece in enumerate(pieces):
                last = index == len(pieces) - 1
                message = await channel.send(
                    piece, allowed_mentions=render.NO_MENTIONS, **(extras if last else {})
                )
        except discord.HTTPException as error:
            log.warning("the answer for %s could not be posted in the channel: %s", self.who, error)
            return None
        return message

    async def finish(self, content: str) -> None:
        """A last word in place of the answer (an error, a shutdown), wherever it can go."""
        if await self.edit(content, embed=None, view=None) is None and self.moved:
            await self.send([content], {})

    def close(self) -> None:
        self._timer.cancel()

    @property
    def who(self) -> str:
        return f"user {self.interaction.user.id}"


class AskCog(commands.Cog, name="Ask"):
    def __init__(self, bot: commands.Bot):
        self.bot = bot
        self.in_flight: set[DeferredReply] = set()
        self.closing = False

    @property
    def service(self):
        return self.bot.service

    async def finish_in_flight(self) -> None:
        """On shutdown: refuse new questions, give those in flight SHUTDOWN_GRACE_S to
        finish, and replace the rest with a note to ask again (no "Drafting…" left behind)."""
        self.closing = True
        tasks = {public.task for public in self.in_flight}
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
        for public in list(self.in_flight):
            public.task.cancel()
            await asyncio.gather(public.task, return_exceptions=True)
            try:
                await public.finish(render.RESTARTING)
            except discord.HTTPException as error:
                log.info("could not tell %s about the restart: %s", public.who, error)

    @app_commands.command(
        name="ask", description="Ask about AI model quantization; the answer cites its sources."
    )
    @app_commands.describe(question="e.g. How much memory does a 7B model need in int8?")
    async def ask(self, interaction: discord.Interaction, question: TEXT_OPTION) -> None:
        await self.serve(interaction, question, "question", self.answer_with("answer"))

    @app_commands.command(
        name="explain", description="A plain-language explanation of a quantization topic."
    )
    @app_commands.describe(topic="e.g. NF4, LLM.int8() outliers, perplexity")
    async def explain(self, interaction: discord.Interaction, topic: TEXT_OPTION) -> None:
        await self.serve(interaction, topic, "topic", self.answer_with("explain"))

    @explain.autocomplete("topic")
    async def _explain_topics(
        self, interaction: discord.Interaction, typed: str
    ) -> list[app_commands.Choice[str]]:
        """The knowledge base's topics and documents matching what is typed so far (any
        free text is still accepted: these are suggestions)."""
        return [
            app_commands.Choice(name=name, value=name)
            for name in matching_topics(self.service.explain_topics(), typed)
        ]

    @app_commands.command(
        name="nextsteps",
        description="Two possible next steps from one detail, each with why it might be wrong.",
    )
    @app_commands.describe(detail="e.g. My 4-bit model got worse at long reasoning tasks")
    async def nextsteps(self, interaction: discord.Interaction, detail: TEXT_OPTION) -> None:
        await self.serve(interaction, detail, "detail", self._steps)

    # -- the queued flow shared by every command that needs the model --------------------

    async def serve(
        self, interaction: discord.Interaction, text: str, what: str, respond, private=False
    ) -> None:
        """Check, queue, defer, wait for the model's turn, respond; errors replace the reply.

        A `private` answer is seen by the member who asked for it only."""
        async with user_errors(interaction):
            if self.closing:
                raise Refusal(render.RESTARTING)
            text = clean_text(text, self.service.settings.max_question_chars, what=what)
            config = await config_for(interaction)
            config.check_channel(interaction.channel)
            user_id = str(interaction.user.id)
            async with self.bot.admission.admit(user_id, config.cooldown_s) as ticket:
                self._check_wait(ticket)
                await interaction.response.defer(thinking=True, ephemeral=private)
                public = DeferredReply(interaction, private)
                self.in_flight.add(public)
                try:
                    await self._answer(public, ticket, text, respond)
                finally:
                    public.close()
                    self.in_flight.discard(public)

    def _check_wait(self, ticket) -> None:
        """Refuse a question whose answer could not come within the interaction's life."""
        admission = self.bot.admission
        if ticket.estimated_wait_s + admission.mean_answer_s <= TOKEN_LIFE_S - TOKEN_MARGIN_S:
            return
        raise Refusal(
            f"I'm too busy to answer in time: {ticket.ahead} questions are ahead of yours, "
            f"{describe_wait(ticket.estimated_wait_s)} of work. Please ask again in a few minutes."
        )

    async def _answer(self, public: DeferredReply, ticket, text: str, respond) -> None:
        try:
            waiting = max(0, ticket.ahead - self.bot.admission.workers)  # not those drafting
            if ticket.ahead:
                wait = describe_wait(ticket.estimated_wait_s)
                drafting = ticket.ahead - waiting
                await public.edit(render.queued_text(waiting, drafting, wait))
            await ticket.turn()
            await respond(public, text)
        except TimeoutError:
            await public.finish(render.TOO_SLOW)
        except GuardError as error:
            await public.finish(str(error))
        except Exception:
            log.exception("answering %r for user %s failed", text, ticket.user_id)
            try:
                await public.finish(render.APOLOGY)
            except discord.HTTPException as error:
                log.info("could not apologise to user %s: %s", ticket.user_id, error)

    def answer_with(self, mode: str):
        """The responder for /ask ('answer') and /explain ('explain'): stream, then the answer."""

        async def respond(public: DeferredReply, question: str) -> None:
            interaction = public.interaction
            stream = DraftStream(lambda draft: public.edit(render.draft_preview(question, draft)))
            try:
                answer = await self.service.ask(
                    question, asker_of(interaction), on_text=stream.update, mode=mode
                )
            finally:
                await stream.close()
            review = self.bot.get_cog("Review")
            reviewed_by = await review.reviewed_by(interaction.guild) if answer.flagged else ""
            message = await self.send_answer(public, answer, reviewed_by)
            if answer.review_id is not None and message is not None:
                await review.queue_answer(interaction.guild, answer.review_id, message)

        return respond

    async def _steps(self, public: DeferredReply, detail: str) -> None:
        steps = await self.service.steps(detail)
        embed = render.sources_embed(steps.sources) if steps.sources else None
        view = None
        if not public.private:  # a report button, as under an answer
            try:
                question_id = await self.service.record_steps(steps, asker_of(public.interaction))
                view = steps_controls(question_id)
            except Exception:  # the steps are worth giving without their button
                log.exception("the steps for %r were not stored: no report button", detail)
        await self._send_pieces(public, render.steps_messages(steps), embed=embed, view=view)

    async def send_answer(
        self, public: DeferredReply, answer: Answer, reviewed_by: str = "moderators"
    ) -> discord.Message | None:
        """The final answer: split under the limit; sources embed and buttons on the last part.

        `reviewed_by` says who a flagged answer reaches (see render.REVIEW_NOTICES)."""
        embed = render.sources_embed(answer.sources) if answer.sources else None
        has_buttons = (
            answer.kind == "answer" and answer.question_id is not None and not public.private
        )
        view = answer_controls(answer.question_id) if has_buttons else None
        return await self._send_pieces(
            public, render.answer_messages(answer, reviewed_by), embed=embed, view=view
        )

    async def _send_pieces(
        self, public: DeferredReply, pieces: list[str], embed, view
    ) -> discord.Message | None:
        """Edit the deferred reply with the first piece and follow up with the rest (or, once
        the reply can no longer be edited, post them in the channel).

        The embed and the buttons go on the last piece, so they sit under the whole answer.
        """
        extras = {"embed": embed} if embed is not None else {}
        if view is not None:
            extras["view"] = view
        first, rest = pieces[0], pieces[1:]
        message = await public.edit(first, **{"embed": None, **(extras if not rest else {})})
        if message is None:
            return await public.send(pieces, extras)
        interaction = public.interaction
        for index, piece in enumerate(rest, start=1):
            message = await interaction.followup.send(
                piece,
                wait=True,
                ephemeral=public.private,
                allowed_mentions=render.NO_MENTIONS,
                **(extras if index == len(rest) else {}),
            )
        return message

    async def follow_up(self, message: discord.Message, previous: str) -> None:
        """A reply to an answer: answered as a reply, with the earlier question as context."""
        guild_id = message.guild.id if message.guild else None
        asker = Asker(str(message.author.id), str(guild_id or ""), str(message.channel.id))
        try:
            text = clean_text(message.content, self.service.settings.max_question_chars)
            config = await GuildConfig.load(self.service, guild_id)
            config.check_channel(message.channel)
            async with self.bot.admission.admit(asker.user_id, config.cooldown_s) as ticket:
                self._check_wait(ticket)
                await message.channel.typing()  # "quantutor is typing…" for a while
                await ticket.turn()
                answer = await self.service.ask(text, asker, previous=previous)
                review = self.bot.get_cog("Review")
                reviewed_by = await review.reviewed_by(message.guild) if answer.flagged else ""
                posted = await self._reply_pieces(message, answer, reviewed_by)
                if answer.review_id is not None:
                    await review.queue_answer(message.guild, answer.review_id, posted)
        except USER_ERRORS as error:
            await self._tell(message, str(error))
        except Exception:
            log.exception("follow-up %s from user %s failed", message.id, asker.user_id)
            await self._tell(message, render.APOLOGY)

    async def _reply_pieces(self, message, answer: Answer, reviewed_by: str) -> discord.Message:
        pieces = render.answer_messages(answer, reviewed_by)
        extras = {"embed": render.sources_embed(answer.sources)} if answer.sources else {}
        if answer.kind == "answer" and answer.question_id is not None:
            extras["view"] = answer_controls(answer.question_id)
        posted = None
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            send = message.reply if index == 0 else message.channel.send
            posted = await send(
                piece, allowed_mentions=render.NO_MENTIONS, **(extras if last else {})
            )
        return posted

    async def _tell(self, message: discord.Message, text: str) -> None:
        try:
            await message.reply(text, allowed_mentions=render.NO_MENTIONS)
        except discord.HTTPException as error:
            log.info("could not answer message %s: %s", message.id, error)

    # -- the answer's buttons --------------------------------------------------------------

    async def press(self, interaction: discord.Interaction, action: str, question_id: int) -> None:
        """A button under an answer, however long ago it was posted."""
        logged = await self.service.logged_question(question_id)
        if logged is None:
            async with user_errors(interaction):
                await reply(interaction, "This answer is no longer stored; please ask again.")
            return
        if action == "simpler":
            # Seen by the presser only: a press is one member's wish, not the channel's.
            respond = self.answer_with("explain")
            await self.serve(interaction, logged.question, "question", respond, private=True)
            return
        async with user_errors(interaction):
            if action == "report":
                await self._report(interaction, logged)
            else:
                await self._rate(interaction, logged, helpful=action == "helpful")

    async def _rate(
        self, interaction: discord.Interaction, logged: LoggedQuestion, helpful: bool
    ) -> None:
        if not await self.service.rate_answer(str(interaction.user.id), logged, helpful):
            await reply(interaction, "You have already rated this answer. Thanks!")
            return
        await reply(interaction, "Thanks for the feedback!")

    async def _report(self, interaction: discord.Interaction, logged: LoggedQuestion) -> None:
        await interaction.response.defer(ephemeral=True)  # telling the moderators takes a moment
        message_id = str(interaction.message.id) if interaction.message else ""
        review_id, new = await self.service.report_answer(
            logged, str(interaction.channel_id or ""), message_id, str(interaction.user.id)
        )
        if not new:
            await reply(interaction, f"Thanks: this answer is already in review #{review_id}.")
            return
        review = self.bot.get_cog("Review")
        posted = await review.notify(interaction.guild, review_id)
        await reply(interaction, render.report_thanks(review_id, posted, interaction.guild))


def matching_topics(topics: list[str], typed: str, limit: int = CHOICES) -> list[str]:
    """Topics holding every word typed (case aside), those that start with it first; with
    nothing typed, the first ones. Each fits a choice (100 characters)."""
    words = typed.casefold().split()
    found = [t for t in topics if len(t) <= 100 and all(w in t.casefold() for w in words)]
    starts = typed.strip().casefold()
    found.sort(key=lambda t: not t.casefold().startswith(starts))  # stable: topics' order
    return found[:limit]


class AnswerButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"answer:(?P<action>helpful|unhelpful|simpler|report):(?P<id>\d+)",
):
    """Feedback, a simpler explanation, or a report, for the stored question `id`: the
    custom_id carries all a press needs, so the buttons keep working after a restart."""

    def __init__(self, action: str, question_id: int):
        label, emoji, style = BUTTON_LOOKS[action]
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=style, custom_id=f"answer:{action}:{question_id}"
            )
        )
        self.action = action
        self.question_id = question_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match) -> "AnswerButton":
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.client.get_cog("Ask").press(interaction, self.action, self.question_id)


def answer_controls(question_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in BUTTON_LOOKS:
        view.add_item(AnswerButton(action, question_id))
    return view


def steps_controls(question_id: int) -> discord.ui.View:
    """Under /nextsteps: the report button only (the steps are the documents' own, or
    checked ones; there is nothing to rate as an answer or explain more simply)."""
    view = discord.ui.View(timeout=None)
    view.add_item(AnswerButton("report", question_id))
    return view
