"""/quiz start, score and leaderboard: questions as embeds, options as buttons.

A quiz runs in a private thread the bot creates for the learner (or, where it cannot,
in ephemeral messages), so a channel is not flooded. Option buttons are DynamicItems
whose custom_id names the quiz-taker, the bank and the question: only the taker's
clicks count, and the buttons keep working after a restart (the session is stored).
"""

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.cogs.common import reply, user_errors
from quiz.engine import QuestionView
from tutor.quizzes import QuizDesk

log = logging.getLogger("quantutor.bot")

BANK_CHOICES = [app_commands.Choice(name=bank, value=bank) for bank in QuizDesk.banks()]
FREE_TEXT = "text"
NOT_YOURS = "This is someone else's quiz: start your own with /quiz start."
THREAD_ARCHIVE_MINUTES = 24 * 60  # a day; the next /quiz start reopens it after that


class QuizButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"quiz:(?P<user>\d+):(?P<bank>[\w-]+):(?P<question>[\w.-]+):(?P<choice>[A-Z]|text)",
):
    def __init__(self, user_id: int, bank: str, question_id: str, choice: str):
        label = "Answer in your own words" if choice == FREE_TEXT else choice
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.primary,
                custom_id=f"quiz:{user_id}:{bank}:{question_id}:{choice}",
            )
        )
        self.user_id, self.bank, self.question_id, self.choice = user_id, bank, question_id, choice

    @classmethod
    async def from_custom_id(cls, interaction, item, match) -> "QuizButton":
        return cls(int(match["user"]), match["bank"], match["question"], match["choice"])

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("Quiz")
        await cog.press(interaction, self.user_id, self.bank, self.question_id, self.choice)


def question_controls(user_id: int, bank: str, question: QuestionView) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    choices = (
        [FREE_TEXT] if question.free_text else [letter for letter, _ in question.lettered_options]
    )
    for choice in choices:
        view.add_item(QuizButton(user_id, bank, question.question_id, choice))
    return view


class FreeTextModal(discord.ui.Modal):
    reply = discord.ui.Label(
        text="Your answer",
        component=discord.ui.TextInput(style=discord.TextStyle.paragraph, max_length=1000),
    )

    def __init__(self, cog: "QuizCog", bank: str, question_id: str, number: int):
        super().__init__(title=f"Question {number}: in your own words")
        self.cog, self.bank, self.question_id = cog, bank, question_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.cog.grade(interaction, self.bank, self.question_id, self.reply.component.value)


class QuizCog(commands.Cog, name="Quiz"):
    quiz = app_commands.Group(name="quiz", description="The lesson's quiz, with buttons.")

    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @property
    def service(self):
        return self.bot.service

    @quiz.command(name="start", description="Start (or resume) a quiz in your own thread.")
    @app_commands.describe(bank="which question bank (default: lesson)")
    @app_commands.choices(bank=BANK_CHOICES)
    async def quiz_start(self, interaction: discord.Interaction, bank: str = "lesson") -> None:
        async with user_errors(interaction):
            user_id, guild_id = interaction.user.id, _guild(interaction)
            question = await self.service.quiz_start(str(user_id), guild_id, bank)
            await interaction.response.defer(ephemeral=True, thinking=True)
            message = {
                "embed": render.question_embed(question, bank),
                "view": question_controls(user_id, bank, question),
                "allowed_mentions": render.NO_MENTIONS,
            }
            thread, made = await self._own_thread(interaction, bank)
            if thread is not None:
                try:
                    await thread.send(**message)
                except discord.HTTPException as error:
                    log.info(
                        "quiz thread %s refused the question (%s): ephemeral", thread.id, error
                    )
                    await self._give_up(interaction, bank, thread, made)
                    thread = None
            if thread is None:
                await interaction.followup.send(ephemeral=True, **message)
                return
            await reply(interaction, f"Your quiz is ready in {thread.mention}. Good luck!")

    @quiz.command(name="score", description="Your best and latest score.")
    @app_commands.describe(bank="which question bank (default: lesson)")
    @app_commands.choices(bank=BANK_CHOICES)
    async def quiz_score(self, interaction: discord.Interaction, bank: str = "lesson") -> None:
        async with user_errors(interaction):
            user_id = str(interaction.user.id)
            score = await self.service.quiz_score(user_id, _guild(interaction), bank)
            if score is None:
                text = f"You have not finished a **{bank}** quiz here yet: try /quiz start."
            else:
                text = (
                    f"Your best on **{bank}**: {score.best}/{score.total} "
                    f"(latest {score.latest}/{score.total}, {score.attempts} attempts)."
                )
            await reply(interaction, text)

    @quiz.command(name="leaderboard", description="The best scores on this server.")
    @app_commands.describe(bank="which question bank (default: lesson)")
    @app_commands.choices(bank=BANK_CHOICES)
    async def quiz_leaderboard(self, interaction: discord.Interaction, bank: str = "lesson"):
        async with user_errors(interaction):
            board = await self.service.quiz_leaderboard(_guild(interaction), bank)
            if not board:
                await reply(interaction, f"No one has finished a **{bank}** quiz here yet.")
                return
            lines = [f"🏆 **Leaderboard: {bank}**"]
            lines += [
                f"{place}. <@{s.user_id}>: {s.best}/{s.total} ({s.attempts} attempts)"
                for place, s in enumerate(board, start=1)
            ]
            await reply(interaction, "\n".join(lines))

    # -- answering ---------------------------------------------------------------------------

    async def press(
        self, interaction: discord.Interaction, taker: int, bank: str, question_id: str, choice
    ) -> None:
        """An option button: only the quiz-taker's click counts; free text opens a form."""
        async with user_errors(interaction):
            if interaction.user.id != taker:
                await reply(interaction, NOT_YOURS)
                return
            if choice != FREE_TEXT:
                await self.grade(interaction, bank, question_id, choice)
                return
            current = await self.service.quiz_current(str(taker), _guild(interaction), bank)
            number = current.number if current else 0
            await interaction.response.send_modal(FreeTextModal(self, bank, question_id, number))

    async def grade(
        self, interaction: discord.Interaction, bank: str, question_id: str, answer: str
    ) -> None:
        """Grade, show the result in place of the question, then the next question or the end."""
        async with user_errors(interaction):
            user_id = interaction.user.id
            turn = await self.service.quiz_answer(
                str(user_id), _guild(interaction), bank, question_id, answer
            )
            await interaction.response.edit_message(
                embed=render.result_embed(turn.result),
                view=None,
                allowed_mentions=render.NO_MENTIONS,
            )
            ephemeral = bool(interaction.message and interaction.message.flags.ephemeral)
            if turn.next_question is None:
                await interaction.followup.send(
                    embed=render.summary_embed(turn.summary),
                    ephemeral=ephemeral,
                    allowed_mentions=render.NO_MENTIONS,
                )
                return
            await interaction.followup.send(
                embed=render.question_embed(turn.next_question, bank),
                view=question_controls(user_id, bank, turn.next_question),
                ephemeral=ephemeral,
                allowed_mentions=render.NO_MENTIONS,
            )

    async def _own_thread(self, interaction: discord.Interaction, bank: str):
        """The learner's private thread for this quiz, reopened if it has one, else a new
        one: (thread, whether it was made now), or (None, False) where there can be none."""
        if not isinstance(interaction.channel, discord.TextChannel):
            return None, False
        key = (str(interaction.user.id), _guild(interaction), bank)
        stored = await self.service.quiz_thread(*key)
        if stored:
            thread = await self._reopen(interaction.guild, int(stored))
            if thread is not None:
                return thread, False
        try:
            thread = await interaction.channel.create_thread(
                name=f"Quiz ({bank}): {interaction.user.display_name}"[:100],
                type=discord.ChannelType.private_thread,
                invitable=False,
                auto_archive_duration=THREAD_ARCHIVE_MINUTES,
            )
            await thread.add_user(interaction.user)
        except discord.HTTPException as error:
            log.info(
                "no quiz thread in %s (%s): quiz goes ephemeral", interaction.channel_id, error
            )
            return None, False
        await self.service.set_quiz_thread(*key, str(thread.id))
        return thread, True

    async def _reopen(self, guild: discord.Guild, thread_id: int) -> discord.Thread | None:
        """A quiz thread made before, unarchived; None once it is gone or locked."""
        try:
            thread = guild.get_thread(thread_id) or await guild.fetch_channel(thread_id)
            if not isinstance(thread, discord.Thread) or thread.locked:
                return None
            if thread.archived:
                await thread.edit(archived=False)
        except discord.HTTPException as error:
            log.info("quiz thread %s not reopened (%s): a new one", thread_id, error)
            return None
        return thread

    async def _give_up(self, interaction, bank: str, thread: discord.Thread, made: bool) -> None:
        """A thread the question could not go to is forgotten, and deleted if made just now
        (no empty thread is left behind)."""
        await self.service.set_quiz_thread(str(interaction.user.id), _guild(interaction), bank, "")
        if not made:
            return
        try:
            await thread.delete()
        except discord.HTTPException as error:
            log.info("empty quiz thread %s not deleted: %s", thread.id, error)


def _guild(interaction: discord.Interaction) -> str:
    return str(interaction.guild_id or "")
