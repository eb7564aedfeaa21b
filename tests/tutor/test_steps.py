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


async def test_steps_from_the_real_service_are_always_two_with_risks(service):
    proposal = await service.steps(DETAIL)
    assert len(proposal.steps) == 2
    assert all(step.step and step.risk and step.citations for step in proposal.steps)
    assert proposal.path in {"sources", "model", "general"}
    assert "Might be wrong because" in proposal.render()


def no_model(monkeypatch, service):
    async def refuse(*args, **kwargs):
        raise AssertionError("the model was asked")

    monkeypatch.setattr(service, "generate", refuse)


@pytest.mark.parametrize(
    ("detail", "document"),
    [
        (
            "QLoRA's double quantization shrinks the scales to 0.127 bits",
            "block-scales-overhead.md",
        ),
        ("HQQ quantizes without calibration data", "hqq.md"),
        ("Ollama's default tag is q4_K_M", "ollama-quantization.md"),
    ],
)
async def test_a_covered_detail_gets_its_documents_own_steps_without_the_model(
    fake_service, monkeypatch, detail, document
):
    no_model(monkeypatch, fake_service)
    proposal = await fake_service.steps(detail)
    assert proposal.path == "sources"
    cited = {proposal.sources[n - 1].doc_id for s in proposal.steps for n in s.citations}
    assert document in cited
    for step in proposal.steps:
        [n] = step.citations
        own = fake_service.index.document(proposal.sources[n - 1].doc_id).next_steps
        assert (step.step, step.risk) in {(o.step, o.risk) for o in own}


async def test_without_own_steps_the_model_is_asked_once_and_its_risks_checked(
    fake_service, monkeypatch
):
    monkeypatch.setattr(fake_service.index, "document", lambda doc_id: None)  # as a correction
    replies = iter(
        [
            "Step 1: Try NF4 on your chat data.\nRisk 1: The moon is made of cheese.\n"
            "Step 2: Try int8.\nRisk 2: Bananas are a kind of quantizer.",
        ]
    )

    async def model(messages, on_text=None, max_new_tokens=None):
        return Generation(next(replies), 10, 10, 1.0, 1.0)

    monkeypatch.setattr(fake_service, "generate", model)
    proposal = await fake_service.steps(DETAIL)
    assert proposal.path == "general", "unbacked risks are not offered as the model's"
    assert len(proposal.steps) == 2 and all(s.citations for s in proposal.steps)
    assert "general cautions" in proposal.render()
