"""The input guard: what a learner types is cleaned or refused with a clear message."""

import re
import unicodedata

from tutor.errors import GuardError

# Zero-width characters and bidirectional overrides can hide text or reorder it.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>")
MAX_CORRECTION_CHARS = 4000  # a moderator's correction, which becomes a source


def clean_text(text: str, max_chars: int, what: str = "question") -> str:
    """Printable, single-spaced text without mentions, or a GuardError."""
    if not isinstance(text, str):
        raise GuardError(f"The {what} must be text.")
    if len(text) > max_chars:
        raise GuardError(
            f"That {what} is {len(text):,} characters long; the limit is {max_chars:,}. "
            "Please shorten it to the part you want answered."
        )
    text = _INVISIBLE.sub("", text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    # A question never needs to ping. Repeat until stable: removing '<@1>' from
    # '<@<@1>1>' would otherwise join a new mention out of the pieces around it.
    while _MENTION.search(text):
        text = _MENTION.sub(lambda m: m.group(1) or "", text)
    text = re.sub(r"\s+", " ", text).strip()
    if not re.search(r"\w", text):
        raise GuardError(
            f"The {what} is empty. Type a {what} about quantization, "
            "e.g. “Is int8 quantization lossless?”"
        )
    return text
