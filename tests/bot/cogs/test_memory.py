"""/memory: the arithmetic, public, with its inputs cited; bad inputs told privately."""

from tests.helpers.discord_fakes import assert_no_pings, from_learner, private_reply, texts


async def test_memory_shows_the_formula_with_the_kv_cache(bot):
    cog, interaction = bot.get_cog("Memory"), from_learner(bot)
    await cog.memory.callback(cog, interaction, "Llama-2-70B", "nf4", context=4096)
    shown = texts(interaction)[-1]
    assert "70 × 10⁹ parameters × 4.5 bits" in shown and "39.4 GB" in shown
    assert "2 × 80 layers × 8 KV heads × 128 head dim × 4,096 tokens" in shown
    assert "kv-cache-memory-formula.md" in shown
    assert_no_pings(interaction)


async def test_an_unknown_precision_is_told_privately_with_the_known_ones(bot):
    cog, interaction = bot.get_cog("Memory"), from_learner(bot)
    await cog.memory.callback(cog, interaction, "70B", "fp7")
    assert "unknown precision 'fp7'" in private_reply(interaction)
    assert "Q4_K_M" in private_reply(interaction)


async def test_models_and_precisions_autocomplete_from_the_tables(bot):
    command = bot.tree.get_command("memory")
    choices = await command._params["model"].autocomplete(from_learner(bot), "llama-3")
    assert {c.name for c in choices} >= {"Llama-3-8B", "Llama-3-70B"}


async def test_a_gpu_gives_the_speed_bound_and_whether_the_model_fits(bot):
    cog, interaction = bot.get_cog("Memory"), from_learner(bot)
    await cog.memory.callback(cog, interaction, "70B", "4-bit", gpu="rtx 4090")
    shown = texts(interaction)[-1]
    assert "1,008 GB/s (RTX 4090's peak" in shown and "÷ 35.0 GB read per token" in shown
    assert "Fits on one RTX 4090" in shown and "no, 11.0 GB short" in shown
    choices = (
        await bot.tree.get_command("memory")._params["gpu"].autocomplete(from_learner(bot), "h100")
    )
    assert {c.name for c in choices} >= {"H100 SXM", "H100 PCIe"}


async def test_an_unknown_gpu_is_told_privately_with_the_known_ones(bot):
    cog, interaction = bot.get_cog("Memory"), from_learner(bot)
    await cog.memory.callback(cog, interaction, "70B", "fp16", gpu="voodoo 3")
    assert "unknown GPU 'voodoo 3'" in private_reply(interaction)
    assert "H100 SXM" in private_reply(interaction)
