"""Bad input shared by the service's and the cogs' bad-input tests."""

import re

LIVE_PING = re.compile(r"@(everyone|here)", re.IGNORECASE)

BAD_QUESTIONS = {
    "empty": "",
    "whitespace": " \t\n\r\u00a0\u3000 ",
    "100,000 characters": "int8 " * 20_000,
    "zero-width": "\u200b\u200c\u200d\u2060\ufeff",
    "right-to-left override": "\u202e\u2066\u2067\u2069\u202c",
    "control characters": "\x00\x01\x07\x08\x1b\x7f\x9f",
}
