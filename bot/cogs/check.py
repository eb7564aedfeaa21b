"""The message context menus: "Check with quantutor" (every claim of a message against the
sources, told privately) and "Ask quantutor about this message" (the message as a /ask)."""

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.cogs.common import Refusal, reply, user_errors
from tutor.errors import GuardError
from tutor.text import split_sentences

log = logging.getLogger("quantutor.bot")

MAX_CLAIMS = 8  # claims checked from one message; the rest are counted, not checked


class CheckCog(commands.Cog, name="Check"):
    def __init__(self, bot: commands.Bot):
        self.bot = bot
        self.menus = [
            app_commands.ContextMenu(name="Check with quantutor", callback=self.check_message),
            app_commands.ContextMenu(
                name="Ask quantutor about this message", callback=self.ask_about
            ),
        ]

    async def cog_load(self) -> None:
        for menu in self.menus:
            self.bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)

    async def check_message(self, interaction: discord.Interaction, message: discord.Message):
        """Each claim of the message checked by the verifier, told only to who asked."""
        async with user_errors(interaction):
            claims = split_sentences(message.content or "")
            if not claims:
                raise Refusal("That message has no text I can check (only images or embeds?).")
            await interaction.response.defer(ephemeral=True, thinking=True)
            reports = []
            for claim in claims[:MAX_CLAIMS]:
                try:
                    report = await asyncio.to_thread(self.bot.service.verify_claim, claim)
                except GuardError as error:  # a sentence too long, or of symbols only
                    log.info("claim not checked: %s", error)
                    continue
                reports.append(report)
            if not reports:
                raise Refusal("I found no sentence in that message I could check.")
            left = len(claims) - min(len(claims), MAX_CLAIMS)
            for part in render.claim_reports(reports, message.jump_url, left):
                await reply(interaction, part)

    async def ask_about(self, interaction: discord.Interaction, message: discord.Message):
        """The message's text, answered as /ask answers it."""
        ask = self.bot.get_cog("Ask")
        await ask.serve(interaction, message.content or "", "question", ask.answer_with("answer"))
