"""Two next steps, each with a risk, whatever the model writes."""

import pytest

from tutor.runtime.base import Generation
from tutor.steps import parse_steps

DETAIL = "int4: usable for chat, classification, simple generation"


def test_a_well_formed_reply_parses_into_two_steps():
    reply = (
        "Step 1: Run NF4 on your chat workload.\nRisk 1: Hard reasoning may break.\n"
        "**Step 2:** Compare int8 against bf16 perplexity.\nRisk 2: Perplexity can hide drops."
    )
    steps = parse_steps(reply)
    assert [s.step for s in steps] == [
        "Run NF4 on your chat workload.",
        "Compare int8 against bf16 perplexity.",
    ]
    assert steps[1].risk == "Perplexity can hide drops."


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "Quantization is great.",
        "Step 1: Do a thing here.\nRisk 1: It might fail somehow.",
        "Step 1: Same step again.\nRisk 1: A risk here.\nStep 1: Same step again.\nRisk 2: x y z w",
        "Step 1: Same step here.\nRisk 1: A risk here.\nStep 2: same step here.\nRisk 2: Risky!!",
    ],
)
def test_a_half_followed_format_is_refused(reply):
    assert parse_steps(reply) is None


async def test_steps_from_the_real_model_are_always_two_with_risks(service):
    proposal = await service.steps(DETAIL)
    assert len(proposal.steps) == 2
    assert all(step.step and step.risk for step in proposal.steps)
    assert proposal.path in {"model", "model-retry", "sources"}
    assert "Might be wrong because" in proposal.render()


async def test_garbage_from_the_model_falls_back_to_cited_steps(service, monkeypatch):
    calls = []

    async def garbage(messages, on_text=None, max_new_tokens=None):
        calls.append(messages)
        return Generation("lorem ipsum ### Step: ???", 10, 10, 1.0, 1.0)

    monkeypatch.setattr(service, "generate", garbage)
    proposal = await service.steps(DETAIL)
    assert len(calls) == 2, "one retry with a tighter prompt, then the fallback"
    assert proposal.path == "sources"
    assert len(proposal.steps) == 2
    numbers = {ref.n for ref in proposal.sources}
    for step in proposal.steps:
        assert step.risk and step.citations and set(step.citations) <= numbers
    assert "composed from the sources" in proposal.render()
