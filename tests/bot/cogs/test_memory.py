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
