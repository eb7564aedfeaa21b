"""/ask, /explain and /nextsteps: queued for the model, streamed, then the checked answer."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.cogs.common import (
    asker_of,
    config_for,
    edit_reply,
    reply,
    user_errors,
)
from tutor.admission import describe_wait
from tutor.answer import Answer
from tutor.errors import GuardError
from tutor.guard import clean_text
from tutor.storage import LoggedQuestion

log = logging.getLogger("quantutor.bot")

EDIT_INTERVAL_S = 1.0  # Discord rate-limits message edits; one a second stays well inside
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


class AskCog(commands.Cog, name="Ask"):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @property
    def service(self):
        return self.bot.service

    @app_commands.command(
        name="ask", description="Ask about AI model quantization; the answer cites its sources."
    )
    @app_commands.describe(question="e.g. How much memory does a 7B model need in int8?")
    async def ask(self, interaction: discord.Interaction, question: str) -> None:
        await self.serve(interaction, question, "question", self.answer_with("answer"))

    @app_commands.command(
        name="explain", description="A plain-language explanation of a quantization topic."
    )
    @app_commands.describe(topic="e.g. NF4, LLM.int8() outliers, perplexity")
    async def explain(self, interaction: discord.Interaction, topic: str) -> None:
        await self.serve(interaction, topic, "topic", self.answer_with("explain"))

    @app_commands.command(
        name="nextsteps",
        description="Two possible next steps from one detail, each with why it might be wrong.",
    )
    @app_commands.describe(detail="e.g. My 4-bit model got worse at long reasoning tasks")
    async def nextsteps(self, interaction: discord.Interaction, detail: str) -> None:
        await self.serve(interaction, detail, "detail", self._steps)

    # -- the queued flow shared by every command that needs the model --------------------

    async def serve(self, interaction: discord.Interaction, text: str, what: str, respond) -> None:
        """Check, queue, defer, wait for the model's turn, respond; errors replace the reply."""
        async with user_errors(interaction):
            text = clean_text(text, self.service.settings.max_question_chars, what=what)
            config = await config_for(interaction)
            config.check_channel(interaction.channel)
            user_id = str(interaction.user.id)
            async with self.bot.admission.admit(user_id, config.cooldown_s) as ticket:
                await interaction.response.defer(thinking=True)
                try:
                    if ticket.ahead:
                        wait = describe_wait(ticket.estimated_wait_s)
                        await edit_reply(interaction, render.queued_text(ticket.ahead, wait))
                    await ticket.turn()
                    await respond(interaction, text)
                except TimeoutError:
                    await edit_reply(interaction, render.TOO_SLOW, embed=None, view=None)
                except GuardError as error:
                    await edit_reply(interaction, str(error), embed=None, view=None)
                except Exception:
                    log.exception("answering %r for user %s failed", text, user_id)
                    await edit_reply(interaction, render.APOLOGY, embed=None, view=None)

    def answer_with(self, mode: str):
        """The responder for /ask ('answer') and /explain ('explain'): stream, then the answer."""

        async def respond(interaction: discord.Interaction, question: str) -> None:
            stream = DraftStream(
                lambda draft: edit_reply(interaction, render.draft_preview(question, draft))
            )
            try:
                answer = await self.service.ask(
                    question, asker_of(interaction), on_text=stream.update, mode=mode
                )
            finally:
                await stream.close()
            review = self.bot.get_cog("Review")
            reviewed_by = await review.reviewed_by(interaction.guild) if answer.flagged else ""
            message = await self.send_answer(interaction, answer, reviewed_by)
            if answer.review_id is not None:
                await review.queue_answer(interaction.guild, answer.review_id, message)

        return respond

    async def _steps(self, interaction: discord.Interaction, detail: str) -> None:
        steps = await self.service.steps(detail)
        embed = render.sources_embed(steps.sources) if steps.sources else None
        await self._send_pieces(interaction, render.steps_messages(steps), embed=embed, view=None)

    async def send_answer(
        self, interaction: discord.Interaction, answer: Answer, reviewed_by: str = "moderators"
    ) -> discord.Message:
        """The final answer: split under the limit; sources embed and buttons on the last part.

        `reviewed_by` says who a flagged answer reaches (see render.REVIEW_NOTICES)."""
        embed = render.sources_embed(answer.sources) if answer.sources else None
        has_buttons = answer.kind == "answer" and answer.question_id is not None
        view = answer_controls(answer.question_id) if has_buttons else None
        return await self._send_pieces(
            interaction, render.answer_messages(answer, reviewed_by), embed=embed, view=view
        )

    async def _send_pieces(self, interaction, pieces: list[str], embed, view) -> discord.Message:
        """Edit the deferred reply with the first piece and follow up with the rest.

        The embed and the buttons go on the last piece, so they sit under the whole answer.
        """
        extras = {"embed": embed} if embed is not None else {}
        if view is not None:
            extras["view"] = view
        first, rest = pieces[0], pieces[1:]
        message = await edit_reply(
            interaction, first, **{"embed": None, **(extras if not rest else {})}
        )
        for index, piece in enumerate(rest, start=1):
            message = await interaction.followup.send(
                piece,
                wait=True,
                allowed_mentions=render.NO_MENTIONS,
                **(extras if index == len(rest) else {}),
            )
        return message

    # -- the answer's buttons --------------------------------------------------------------

    async def press(self, interaction: discord.Interaction, action: str, question_id: int) -> None:
        """A button under an answer, however long ago it was posted."""
        logged = await self.service.logged_question(question_id)
        if logged is None:
            async with user_errors(interaction):
                await reply(interaction, "This answer is no longer stored; please ask again.")
            return
        if action == "simpler":
            await self.serve(interaction, logged.question, "question", self.answer_with("explain"))
            return
        async with user_errors(interaction):
            if action == "report":
                await self._report(interaction, logged)
            else:
                await self._rate(interaction, logged.question, helpful=action == "helpful")

    async def _rate(self, interaction: discord.Interaction, question: str, helpful: bool) -> None:
        if not await self.service.rate_answer(str(interaction.user.id), question, helpful):
            await reply(interaction, "You have already rated this answer. Thanks!")
            return
        await reply(interaction, "Thanks for the feedback!")

    async def _report(self, interaction: discord.Interaction, logged: LoggedQuestion) -> None:
        await interaction.response.defer(ephemeral=True)  # telling the moderators takes a moment
        message_id = str(interaction.message.id) if interaction.message else ""
        review_id, new = await self.service.report_answer(
            logged, str(interaction.channel_id or ""), message_id
        )
        if not new:
            await reply(interaction, f"Thanks: this answer is already in review #{review_id}.")
            return
        review = self.bot.get_cog("Review")
        posted = await review.notify(interaction.guild, review_id, reported_by=interaction.user.id)
        await reply(interaction, render.report_thanks(review_id, posted, interaction.guild))


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
