"""The hand-labelled sets are well formed, and their splits keep questions whole."""

from collections import Counter

from tutor.answer import MARKERS
from tutor.checker.labelled import DRAFT_LABELS, load_claims, load_drafts, split_of

CLAIM_LABELS = ("supported", *MARKERS)


def test_every_draft_sentence_has_its_question_sources_and_a_known_label():
    drafts = load_drafts()
    assert len(drafts) >= 300
    for row in drafts:
        assert row["label"] in DRAFT_LABELS, row["id"]
        assert row["question"] and row["sentence"] and row["sources"], row["id"]
        assert all(s["text"] and s["doc_id"] for s in row["sources"]), row["id"]
    assert len({row["id"] for row in drafts}) == len(drafts)


def test_every_claim_has_a_status_label_and_a_source_unless_nothing_backs_it():
    claims = load_claims()
    assert claims and all(c["label"] in CLAIM_LABELS for c in claims)
    assert all(c["source"] or c["label"] == "uncertain" for c in claims)


def test_the_splits_are_stable_and_keep_each_question_on_one_side():
    drafts = load_drafts()
    sides: dict[str, set[str]] = {}
    for row in drafts:
        sides.setdefault(row["question"], set()).add(row["split"])
    assert all(len(split) == 1 for split in sides.values())
    assert set(Counter(row["split"] for row in drafts)) == {"train", "calibration", "held-out"}
    assert split_of("Is int8 lossless?") == split_of("Is int8 lossless?")
