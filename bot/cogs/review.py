"""The moderators' queue: flagged answers posted with persistent buttons, /review list and show.

The buttons are DynamicItems: their custom_id (`review:approve:12`) carries the item's
number, so the one registration in setup_hook serves every post, also after a restart.
"""

import asyncio
import logging
import re

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.cogs.common import (
    GuildConfig,
    config_for,
    is_moderator,
    reply,
    require_moderator,
    user_errors,
)
from tutor.errors import ReviewError
from tutor.guard import MAX_CORRECTION_CHARS
from tutor.storage import Review

log = logging.getLogger("quantutor.bot")

DECISIONS = {"approve": "approved", "reject": "rejected", "correct": "corrected"}
BUTTON_LOOKS = {
    "approve": ("Approve", "✅", discord.ButtonStyle.success),
    "reject": ("Reject", "🚫", discord.ButtonStyle.danger),
    "correct": ("Correct", "✏️", discord.ButtonStyle.primary),
}
LIST_LIMIT = 20  # groups (a question or a flagged sentence, with its items) /review list shows
PENDING_LIMIT = 500  # pending items it counts
CHOICES = 25  # Discord shows at most 25 autocomplete choices
FORM_ID = re.compile(r"review:correction:(?P<id>\d+)")
CORRECTION_INPUT = "correction"
FORM_GRACE_S = 60.0  # a submitted form counts as open here this long after


class ReviewButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"review:(?P<action>approve|reject|correct):(?P<id>\d+)",
):
    def __init__(self, action: str, review_id: int):
        label, emoji, style = BUTTON_LOOKS[action]
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=style, custom_id=f"review:{action}:{review_id}"
            )
        )
        self.action = action
        self.review_id = review_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match) -> "ReviewButton":
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.client.get_cog("Review").press(interaction, self.action, self.review_id)


def review_controls(review_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in DECISIONS:
        view.add_item(ReviewButton(action, review_id))
    return view


class CorrectionModal(discord.ui.Modal):
    """The correction form. Its ids are stable (`review:correction:12`, `correction`), so a
    form opened before a restart is still understood when it is submitted after one
    (ReviewCog.on_interaction)."""

    correction = discord.ui.Label(
        text="The corrected answer",
        description="What learners should be told instead; it becomes a cited source.",
        component=discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            max_length=MAX_CORRECTION_CHARS,
            custom_id=CORRECTION_INPUT,
        ),
    )

    def __init__(self, cog: "ReviewCog", review_id: int):
        super().__init__(
            title=f"Correct review #{review_id}", custom_id=f"review:correction:{review_id}"
        )
        self.cog = cog
        self.review_id = review_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        try:
            await self.cog.correct(interaction, self.review_id, self.correction.component.value)
        finally:  # later, so that on_interaction never takes this submission for a stray one
            asyncio.get_running_loop().call_later(
                FORM_GRACE_S, self.cog.open_forms.discard, self.custom_id
            )


class ReviewCog(commands.Cog, name="Review"):
    # Visible to every member: the moderators are a role the bot knows (or Manage Messages),
    # which Discord's default permissions cannot express; the bot checks it on every use.
    review = app_commands.Group(
        name="review",
        description="The moderators' queue of flagged answers.",
        guild_only=True,
    )

    def __init__(self, bot: commands.Bot):
        self.bot = bot
        self.open_forms: set[str] = set()  # correction forms this process opened

    @property
    def service(self):
        return self.bot.service

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A correction form this process did not open (it was opened before a restart):
        submitted, it is taken as the form itself would take it. Forms opened here are
        left to discord.py, which knows them."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data = interaction.data or {}
        found = FORM_ID.fullmatch(data.get("custom_id", ""))
        if found is None or data["custom_id"] in self.open_forms:
            return
        log.info("review #%s: a correction form from before a restart", found["id"])
        text = _submitted(data.get("components", []), CORRECTION_INPUT)
        await self.correct(interaction, int(found["id"]), text or "")

    # -- posting to the moderators ---------------------------------------------------------

    async def queue_answer(self, guild, review_id: int, message: discord.Message) -> None:
        """A flagged answer, already shown: remember where, then tell the moderators.

        The learner has their answer by now, so a failure here is logged, never shown.
        """
        try:
            await self.service.set_review_message(
                review_id, str(message.channel.id), str(message.id)
            )
            await self.notify(guild, review_id)
        except Exception:
            log.exception("review #%s: the moderators were not told", review_id)

    async def moderators_channel(self, guild) -> discord.abc.Messageable | None:
        """The server's moderators' channel, if one is set and still exists."""
        if guild is None:
            return None
        config = await GuildConfig.load(self.service, guild.id)
        return guild.get_channel(config.mod_channel_id) if config.mod_channel_id else None

    async def reviewed_by(self, guild) -> str:
        """Who a flagged answer here reaches (a render.REVIEW_NOTICES key)."""
        if guild is None:
            return "host"
        return "moderators" if await self.moderators_channel(guild) is not None else "queue"

    async def notify(self, guild, review_id: int) -> bool:
        """Post the item to the server's moderators' channel: whether it was posted (a
        failure here only logs)."""
        channel = await self.moderators_channel(guild)
        if channel is None:
            where = f"server {guild.id}" if guild is not None else "a direct message"
            log.info("review #%s queued; %s has no moderators' channel", review_id, where)
            return False
        content, embed = render.review_post(await self.service.get_review(review_id))
        try:
            post = await channel.send(
                content,
                embed=embed,
                view=review_controls(review_id),
                allowed_mentions=render.NO_MENTIONS,
            )
        except discord.HTTPException as error:
            log.warning("could not post review #%s to the moderators: %s", review_id, error)
            return False
        await self.service.set_review_post(review_id, str(post.channel.id), str(post.id))
        return True

    # -- commands --------------------------------------------------------------------------

    @review.command(name="list", description="Pending review items on this server.")
    async def review_list(self, interaction: discord.Interaction) -> None:
        async with user_errors(interaction):
            require_moderator(interaction, await config_for(interaction))
            pending = await self.service.pending_reviews(str(interaction.guild_id), PENDING_LIMIT)
            if not pending:
                await reply(interaction, "The review queue is empty. 🎉")
                return
            groups = render.review_groups(pending)
            lines = [
                f"**{len(pending)} pending** in **{len(groups)} groups** (the same question, "
                "or the same flagged sentence; contradicted and reported first, then oldest):"
            ]
            lines += [render.review_group_line(group) for group in groups[:LIST_LIMIT]]
            if len(groups) > LIST_LIMIT:
                lines.append(f"…and {len(groups) - LIST_LIMIT} more groups.")
            lines.append("Use `/review show id` to see one and act on it.")
            for part in render.split_message("\n".join(lines)):
                await reply(interaction, part)

    @review.command(name="show", description="One review item, with its buttons if pending.")
    @app_commands.describe(id="the item's number, from /review list")
    async def review_show(
        self, interaction: discord.Interaction, id: app_commands.Range[int, 1, None]
    ) -> None:
        async with user_errors(interaction):
            require_moderator(interaction, await config_for(interaction))
            item = await self._item_here(interaction, id)
            content, embed = render.review_post(item)
            if item.status != "pending":
                content += f"\n{render.decision_line(item, item.moderator or '?')}"
                await reply(interaction, content, embed=embed)
            else:
                await reply(interaction, content, embed=embed, view=review_controls(id))

    @review_show.autocomplete("id")
    async def _pending_ids(
        self, interaction: discord.Interaction, typed: str
    ) -> list[app_commands.Choice[int]]:
        """This server's pending items whose number or question holds what is typed, the
        urgent first; offered to moderators only (the labels quote members' questions)."""
        if interaction.guild_id is None:
            return []
        if not is_moderator(interaction, await config_for(interaction)):
            return []
        pending = await self.service.pending_reviews(str(interaction.guild_id), PENDING_LIMIT)
        typed = str(typed or "").strip().lstrip("#").casefold()
        items = [r for group in render.review_groups(pending) for r in group]
        found = [r for r in items if typed in str(r.id) or typed in r.question.casefold()]
        return [
            app_commands.Choice(name=render.review_choice(r), value=r.id) for r in found[:CHOICES]
        ]

    # -- decisions -------------------------------------------------------------------------

    async def press(self, interaction: discord.Interaction, action: str, review_id: int) -> None:
        """A moderator's button: approve or reject at once; correct opens a form."""
        async with user_errors(interaction):
            require_moderator(interaction, await config_for(interaction))
            item = await self._item_here(interaction, review_id)
            if item.status != "pending":
                raise ReviewError(
                    f"Review item #{review_id} was already {item.status} by {item.moderator}; "
                    "nothing changed."
                )
            if action == "correct":
                form = CorrectionModal(self, review_id)
                self.open_forms.add(form.custom_id)
                await interaction.response.send_modal(form)
                return
            decided = await asyncio.to_thread(
                self.service.resolve_review,
                review_id,
                DECISIONS[action],
                _moderator(interaction),
            )
            await interaction.response.edit_message(
                content=render.decision_line(decided, _moderator(interaction)),
                view=None,
                allowed_mentions=render.NO_MENTIONS,
            )
            await self.retire_post(decided, interaction)
            await self.post_outcome(decided)

    async def correct(self, interaction: discord.Interaction, review_id: int, text: str) -> None:
        """The correction form: the text becomes a moderator-verified source (re-indexed)."""
        async with user_errors(interaction):
            require_moderator(interaction, await config_for(interaction))
            await self._item_here(interaction, review_id)
            await interaction.response.defer()
            decided = await asyncio.to_thread(
                self.service.resolve_review,
                review_id,
                "corrected",
                _moderator(interaction),
                text,
            )
            closed = await self.service.answered_by(review_id)  # the same question's items
            await interaction.edit_original_response(
                content=render.decision_line(decided, _moderator(interaction), closed),
                view=None,
                allowed_mentions=render.NO_MENTIONS,
            )
            for item in [decided, *closed]:
                await self.retire_post(item, interaction)
                await self.post_outcome(item)

    async def retire_post(self, review: Review, interaction: discord.Interaction) -> None:
        """A decision made elsewhere (/review show, another post) also takes the buttons off
        the moderators' post of the item, so no one presses them on a settled item."""
        if not review.mod_message_id.isdigit():
            return
        if interaction.message is not None and str(interaction.message.id) == review.mod_message_id:
            return  # the press was on that post, edited already
        try:
            channel = self.bot.get_channel(int(review.mod_channel_id)) or (
                await self.bot.fetch_channel(int(review.mod_channel_id))
            )
            post = await channel.fetch_message(int(review.mod_message_id))
            await post.edit(
                content=render.decision_line(review, review.moderator or "?"),
                view=None,
                allowed_mentions=render.NO_MENTIONS,
            )
        except discord.HTTPException as error:
            log.info("review #%s: moderators' post not updated (%s)", review.id, error)

    async def post_outcome(self, review: Review) -> None:
        """Reply under the original answer, where that message still exists."""
        if not (review.channel_id.isdigit() and review.message_id.isdigit()):
            return
        try:
            channel = self.bot.get_channel(int(review.channel_id)) or await self.bot.fetch_channel(
                int(review.channel_id)
            )
            original = await channel.fetch_message(int(review.message_id))
            await original.reply(
                render.outcome_text(review),
                allowed_mentions=render.NO_MENTIONS,
                mention_author=False,
            )
        except discord.HTTPException as error:
            log.info("review #%s: original answer not reachable (%s)", review.id, error)

    async def _item_here(self, interaction: discord.Interaction, review_id: int) -> Review:
        """The item, if it belongs to this server; others' items do not exist here."""
        item = await self.service.get_review(review_id)
        if item.guild_id != str(interaction.guild_id):
            raise ReviewError(f"There is no review item #{review_id} on this server.")
        return item


def _submitted(components: list[dict], custom_id: str) -> str | None:
    """The value of the input `custom_id` in a submitted form's components (at any depth:
    a label holds its input as `component`, a row as `components`)."""
    for component in components:
        if component.get("custom_id") == custom_id and "value" in component:
            return component["value"]
        inner = component.get("components", []) + [component.get("component") or {}]
        found = _submitted([c for c in inner if c], custom_id)
        if found is not None:
            return found
    return None


def _moderator(interaction: discord.Interaction) -> str:
    return f"{interaction.user.name} ({interaction.user.id})"
