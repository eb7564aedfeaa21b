"""Discord text: escaped, split under the limits, never cut mid-citation or mid-markup."""

import re

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
    refs = [SourceRef(n, "T" * 400, "S" * 300, "Q " * 2000) for n in range(1, 31)]
    embed = render.sources_embed(refs)
    assert len(embed) <= render.EMBED_TOTAL_LIMIT
    assert len(embed.fields) <= render.EMBED_FIELDS_MAX
    assert all(len(f.name) <= 256 and len(f.value) <= 1024 for f in embed.fields)
    assert "more sources not shown" in embed.footer.text


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
