"""/memory: the memory of a model's weights and KV cache, the formulas shown, each input cited.

Pure arithmetic over the curated tables: no model call, so no queue."""

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.common import reply, user_errors
from tutor.memory import GPUS, MODEL_SHAPES, PRECISIONS, estimate_for

CHOICES = 25  # Discord shows at most 25 autocomplete choices


def _matching(names: list[str], typed: str) -> list[app_commands.Choice[str]]:
    typed = typed.lower()
    return [app_commands.Choice(name=n, value=n) for n in names if typed in n.lower()][:CHOICES]


async def _models(_: discord.Interaction, typed: str) -> list[app_commands.Choice[str]]:
    return _matching([shape.name for shape in MODEL_SHAPES], typed)


async def _precisions(_: discord.Interaction, typed: str) -> list[app_commands.Choice[str]]:
    return _matching([precision.name for precision in PRECISIONS], typed)


async def _gpus(_: discord.Interaction, typed: str) -> list[app_commands.Choice[str]]:
    return _matching([gpu.name for gpu in GPUS], typed)


class MemoryCog(commands.Cog, name="Memory"):
    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @app_commands.command(
        name="memory", description="How much memory a model needs: weights and KV cache, shown."
    )
    @app_commands.describe(
        model="a known model, or a parameter count such as 70B",
        precision="fp16, int8, nf4, Q4_K_M, 4-bit, ...",
        context="context length in tokens (for the KV cache)",
        batch="sequences held at once",
        bandwidth="memory bandwidth in GB/s, for the decoding speed bound",
        gpu="a GPU or several ('2x RTX 3090'): the speed bound and whether the model fits",
    )
    @app_commands.autocomplete(model=_models, precision=_precisions, gpu=_gpus)
    async def memory(
        self,
        interaction: discord.Interaction,
        model: app_commands.Range[str, 1, 60],
        precision: app_commands.Range[str, 1, 40] = "fp16",
        context: app_commands.Range[int, 0, 10_000_000] = 0,
        batch: app_commands.Range[int, 1, 4096] = 1,
        bandwidth: app_commands.Range[float, 1.0, 100_000.0] | None = None,
        gpu: app_commands.Range[str, 1, 60] | None = None,
    ) -> None:
        async with user_errors(interaction):
            estimate = estimate_for(
                model, precision, context, batch, bandwidth_gbs=bandwidth, gpu=gpu
            )
            await reply(interaction, estimate.render(), ephemeral=False)
