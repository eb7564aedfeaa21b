"""The streamed draft: at most one edit an interval, the newest text, nothing after close."""

import asyncio
import time

from bot.cogs.ask import DraftStream


async def test_edits_are_spaced_and_show_the_newest_draft():
    edits = []

    async def edit(text):
        edits.append((time.monotonic(), text))

    stream = DraftStream(edit, interval_s=0.1)
    for n in range(30):
        stream.update(f"draft {n}")
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.15)
    await stream.close()
    times = [t for t, _ in edits]
    assert 2 <= len(edits) <= 5
    assert all(b - a >= 0.095 for a, b in zip(times, times[1:]))
    assert edits[0][1] == "draft 0" and edits[-1][1] == "draft 29"


async def test_nothing_is_edited_after_close():
    edits = []

    async def edit(text):
        edits.append(text)

    stream = DraftStream(edit, interval_s=0.05)
    stream.update("first")
    await asyncio.sleep(0.01)
    stream.update("pending")  # waits for its interval
    await stream.close()
    stream.update("late")  # e.g. a piece still queued on the loop when the answer came
    await asyncio.sleep(0.1)
    assert edits == ["first"]
