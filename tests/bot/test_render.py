"""Discord text: escaped, split under the limits, never cut mid-citation or mid-markup."""

import re
from dataclasses import replace

import pytest

from bot import render
from tests.helpers.discord_fakes import long_answer
from tutor.answer import Sentence, SourceRef

CITATION = re.compile(r"\[\d+\]")


def test_escape_defuses_pings_links_and_markdown():
    text = render.escape("@everyone @here <@123456789012345678> [x](https://e.x) **b** # h")
    assert "@everyone" not in text and "@here" not in text
    assert "<@" not in text.replace("\\<@", "")
    assert "](" not in text.replace("\\](", "")
    assert "**" not in text.replace("\\*", "")


def test_a_long_answer_splits_under_the_limit_without_cutting_citations_or_markup():
    answer = long_answer()
    whole = f"{render.question_line(answer.question)}\n\n{render.answer_body(answer)}"
    pieces = render.answer_messages(answer)
    assert len(pieces) > 2
    assert all(len(piece) <= render.MESSAGE_LIMIT for piece in pieces)
    assert sum(len(CITATION.findall(p)) for p in pieces) == len(CITATION.findall(whole))
    for piece in pieces:
        assert piece.count("__") % 2 == 0, "an underline was cut"
        assert not re.search(r"\[\d*$|^\d*\]", piece), "a citation was cut"
        assert not piece.endswith("\\")
    assert re.sub(r"\s+", "", "".join(pieces)) == re.sub(r"\s+", "", whole)


def test_a_flagged_sentence_is_underlined_and_marked():
    sentence = Sentence("NF4 is always lossless.", "overbroad", 0.5, [1], "too general")
    assert render.sentence(sentence) == "__NF4 is always lossless. [1]__ ⚠️ *too broad: too general*"


@pytest.mark.parametrize("length", [10, 1999, 2000, 2001, 7000])
def test_split_message_respects_the_limit_for_unbroken_text(length):
    pieces = render.split_message("x" * length)
    assert all(len(p) <= render.MESSAGE_LIMIT for p in pieces)
    assert "".join(pieces) == "x" * length


def test_the_sources_embed_stays_within_discord_limits():
    refs = [SourceRef(n, "T" * 400, "S" * 300, "Q " * 2000, doc_id=f"{n}.md") for n in range(1, 31)]
    embed = render.sources_embed(refs)
    assert len(embed) <= render.EMBED_TOTAL_LIMIT
    assert len(embed.fields) <= render.EMBED_FIELDS_MAX
    assert all(len(f.name) <= 256 and len(f.value) <= 1024 for f in embed.fields)
    assert "more sources not shown" in embed.footer.text


def test_chunks_of_one_document_are_one_source_quoting_each_line():
    def chunk(n: int, doc_id: str, quote: str) -> SourceRef:
        return SourceRef(n, f"Title of {doc_id}", "Someone", quote, doc_id=doc_id)

    refs = [chunk(1, "a.md", "First."), chunk(2, "b.md", "Other."), chunk(3, "a.md", "Second.")]
    embed = render.sources_embed(refs)
    assert [field.name for field in embed.fields] == ["[1][3] Title of a.md", "[2] Title of b.md"]
    assert embed.fields[0].value == "*Someone*\n> First. [1]\n> Second. [3]"
    assert embed.fields[1].value == "*Someone*\n> Other."
    assert render.source_listing(refs).splitlines()[0] == "[1][3] Title of a.md"


def test_many_quotes_of_one_document_share_its_field():
    refs = [SourceRef(n, "T", "S", "Q " * 2000, doc_id="a.md") for n in range(1, 9)]
    field = render.sources_embed(refs).fields[0]
    assert len(field.value) <= render.EMBED_FIELD_LIMIT
    assert all(f"[{n}]" in field.value for n in range(1, 9))


def test_the_streamed_preview_fits_one_message_and_shows_the_newest_text():
    preview = render.draft_preview("What is NF4? " * 100, "old " * 1000 + "newest words")
    assert len(preview) <= render.MESSAGE_LIMIT
    assert preview.endswith("newest words") and render.DRAFTING in preview


def test_code_blocks_split_a_long_table_between_lines():
    table = "\n".join(f"| int8 | {i} | {'x' * 40} |" for i in range(200))
    blocks = render.code_blocks(table)
    assert len(blocks) > 1
    for block in blocks:
        assert len(block) <= render.MESSAGE_LIMIT
        assert block.startswith("```\n|") and block.endswith("|\n```")


QLORA = SourceRef(
    1,
    "QLoRA",
    "Dettmers et al., 2023",
    "NF4 is a 4-bit data type.",
    "https://arxiv.org/abs/2305.14314",
)


def test_a_source_with_a_url_is_a_masked_link_and_one_without_stays_plain():
    plain = SourceRef(2, "Notes", "quantutor moderators, review #3", "int4 is lossy.")
    embed = render.sources_embed([QLORA, plain])
    first, second = (field.value for field in embed.fields)
    assert first.startswith("*[Dettmers et al., 2023](https://arxiv.org/abs/2305.14314)*\n> ")
    assert second.startswith("*quantutor moderators, review #3*") and "](" not in second


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "https://e.x) [click](https://evil.example",
        "https://e.x/a b",
        "https://e.x/" + "a" * 400,
    ],
)
def test_a_url_that_could_break_the_markup_is_not_linked(url):
    ref = SourceRef(1, "T", "Someone", "A quote.", url)
    value = render.sources_embed([ref]).fields[0].value
    assert "](" not in value and value.startswith("*Someone*")


def test_linked_sources_stay_within_the_embed_limits_and_no_link_is_cut():
    url = "https://arxiv.org/abs/" + "1" * 250
    refs = [SourceRef(n, "T" * 400, "S" * 400, "Q " * 2000, url, f"{n}.md") for n in range(1, 31)]
    embed = render.sources_embed(refs)
    assert len(embed) <= render.EMBED_TOTAL_LIMIT
    assert all(len(f.name) <= 256 and len(f.value) <= 1024 for f in embed.fields)
    assert all(f"]({url})*\n> " in f.value for f in embed.fields)


def test_the_moderators_post_and_a_claim_check_link_their_sources():
    from tutor.answer import Answer
    from tutor.storage import Review

    sources = [replace(QLORA, n=n, doc_id=f"{n}.md") for n in range(1, 41)]
    answer = Answer("What is NF4?", sources=sources)
    review = Review(
        7,
        "What is NF4?",
        answer.to_dict(),
        "1",
        "2",
        "",
        "",
        "m",
        "nf4",
        1.7e9,
        "pending",
        None,
        None,
        None,
    )
    _, embed = render.review_post(review)
    listing = embed.fields[0].value
    assert listing.startswith("[1] [QLoRA](https://arxiv.org/abs/2305.14314)\n")
    assert len(listing) <= render.EMBED_FIELD_LIMIT and listing.endswith("more.")
    report = {
        "claim": "NF4 is 4-bit.",
        "status": "supported",
        "reason": "backed",
        "sources": [{"title": "QLoRA", "source": "Dettmers", "url": QLORA.url, "quote": "q"}],
    }
    [text] = render.claim_reports([report], "https://discord.com/x", 0)
    assert "*Source: [QLoRA](https://arxiv.org/abs/2305.14314)* (Dettmers)" in text


def test_a_long_message_is_never_cut_inside_a_link():
    linked = render.link("Title \\[x\\]", "https://arxiv.org/abs/2305.14314")
    text = ("word " * 30 + linked + " ") * 40
    for piece in render.split_message(text, 300):
        assert piece.count("](") == piece.count("[Title"), piece


def test_a_url_with_underscores_or_a_fragment_is_still_linked():
    url = "https://github.com/ggml-org/llama.cpp/blob/master/tools/quantize/README.md#k_quants"
    assert render.link("llama.cpp", url) == f"[llama.cpp]({url})"
