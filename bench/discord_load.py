"""Load on the Discord layer: many simultaneous /ask interactions through the cogs.

The network is mocked (every Discord call awaits a fixed latency); the tutor is real:
real index, real model, real store. Prints, per answer, the wait in the queue, the time
to the first streamed edit and the total time (median and p95), the event loop's worst
lag measured by a 50 ms heartbeat during the run, and the review items the run left (and
/review list's rows, one per question) per 100 questions.

Targets: worst loop lag under 100 ms; first streamed edit within 2 s for the first in line;
at most 15 s median per answer with 50 users. `--llama-server` answers through llama.cpp's
own server instead (QUANTUTOR_RUNTIME=server), to compare with in-process batching.

    HF_HUB_OFFLINE=1 python bench/discord_load.py [--users 50] [--max-new-tokens 32]
        [--llama-server]
"""

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from unittest.mock import AsyncMock, MagicMock

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import discord  # noqa: E402

from bot import render  # noqa: E402
from bot.main import build_bot  # noqa: E402
from tutor.admission import Admission, Ticket  # noqa: E402
from tutor.lab.answers import load_questions  # noqa: E402
from tutor.logs import configure_logging  # noqa: E402
from tutor.settings import load_settings  # noqa: E402

LAG_TARGET_MS = 100
# The server shares this machine with the bot: one core stays free for the bot's event loop.
SERVER_THREADS = max(1, (os.cpu_count() or 2) - 1)
FIRST_EDIT_TARGET_S = 2.0


@dataclass
class Trace:
    """What one simulated user saw: each Discord call's time and content."""

    question: str
    arrived: float = 0.0
    edits: list[tuple[float, str]] = field(default_factory=list)
    ticket: Ticket | None = None

    @property
    def first_streamed_edit(self) -> float | None:
        """Seconds from arrival to the first edit showing the draft."""
        return next((t - self.arrived for t, text in self.edits if render.DRAFTING in text), None)

    @property
    def done(self) -> float:
        """Seconds from arrival to the last message of the answer."""
        return self.edits[-1][0] - self.arrived


def fake_interaction(user_id: int, trace: Trace, latency_s: float) -> MagicMock:
    """A /ask interaction whose every Discord call takes `latency_s` and is recorded."""

    async def deferred(**kwargs):
        await asyncio.sleep(latency_s)

    async def network(*args, **kwargs):
        await asyncio.sleep(latency_s)
        content = args[0] if args else kwargs.get("content") or ""
        trace.edits.append((time.perf_counter(), content))
        message = MagicMock(spec=discord.Message)
        message.id, message.channel = user_id, MagicMock(spec=discord.TextChannel, id=1)
        return message

    interaction = MagicMock(spec=discord.Interaction)
    interaction.user = MagicMock(spec=discord.Member, id=user_id)
    interaction.created_at = discord.utils.utcnow()
    interaction.guild = interaction.guild_id = interaction.channel_id = None
    interaction.channel = None
    interaction.permissions = discord.Permissions.none()
    interaction.response = AsyncMock(spec=discord.InteractionResponse)
    interaction.response.defer.side_effect = deferred
    interaction.response.is_done = MagicMock(return_value=True)
    interaction.edit_original_response = AsyncMock(side_effect=network)
    interaction.followup = AsyncMock(spec=discord.Webhook)
    interaction.followup.send.side_effect = network
    return interaction


def questions(count: int) -> list[str]:
    lines = [q["question"] for q in load_questions()]
    return [lines[i % len(lines)] for i in range(count)]


async def drive(bot, users: int, latency_s: float) -> tuple[list[Trace], float, float]:
    await bot.setup_hook()
    cog = bot.get_cog("Ask")
    traces = [Trace(q) for q in questions(users)]
    admit = bot.admission.admit

    def recorded_admit(user_id: str, cooldown_s: float = 0.0) -> Ticket:
        ticket = admit(user_id, cooldown_s)
        traces[int(user_id)].ticket = ticket
        return ticket

    bot.admission.admit = recorded_admit
    # Building spec'd mocks takes milliseconds each: done before the heartbeat is watched.
    interactions = [fake_interaction(i, trace, latency_s) for i, trace in enumerate(traces)]
    await bot.service.ask("What is NF4?")  # warm-up, as on a bot that has been running
    bot.lag.start()
    await asyncio.sleep(0.2)
    bot.lag.reset()
    start = time.perf_counter()
    for trace in traces:
        trace.arrived = start
    await asyncio.gather(
        *(
            cog.ask.callback(cog, interaction, question=trace.question)
            for interaction, trace in zip(interactions, traces)
        )
    )
    wall_s = time.perf_counter() - start
    worst_lag_ms = bot.lag.worst_ms
    await bot.lag.stop()
    return traces, worst_lag_ms, wall_s


def summary(name: str, values: list[float]) -> str:
    p95 = statistics.quantiles(values, n=100, method="inclusive")[94]
    return f"{name:<28} median {statistics.median(values):7.2f} s   p95 {p95:7.2f} s"


def report(traces: list[Trace], worst_lag_ms: float, settings, wall_s: float) -> bool:
    answered = [t for t in traces if t.ticket is not None and t.edits]
    streamed = [t for t in answered if t.first_streamed_edit is not None]
    first_in_line = min(answered, key=lambda t: t.ticket.admitted_at)
    first_edit = first_in_line.first_streamed_edit
    model = (
        f"{settings.server_model} (served)"
        if settings.runtime == "server"
        else f"{settings.model} ({settings.quantization})"
    )
    print(
        f"{len(traces)} simultaneous /ask; {len(answered)} answered, {len(streamed)} streamed; "
        f"runtime {settings.runtime}, model {model}, max_new_tokens "
        f"{settings.max_new_tokens}; wall {wall_s:.0f} s"
    )
    print(summary("queue wait", [t.ticket.waited_s for t in answered]))
    print(summary("first streamed edit", [t.first_streamed_edit for t in streamed]))
    print(summary("total per answer", [t.done for t in answered]))
    print(
        f"first in line: first streamed edit {first_edit:.2f} s "
        f"(target < {FIRST_EDIT_TARGET_S:.0f} s)"
        if first_edit is not None
        else "first in line: no streamed edit"
    )
    print(f"event loop worst lag: {worst_lag_ms:.1f} ms (target < {LAG_TARGET_MS} ms)")
    return (
        worst_lag_ms < LAG_TARGET_MS
        and first_edit is not None
        and first_edit < FIRST_EDIT_TARGET_S
        and len(answered) == len(traces)
    )


def queue_figures(pending, asked: int) -> None:
    """What the run left the moderators: review items, and the rows /review list shows
    (one per question, its items grouped), each per 100 questions asked."""
    groups = render.review_groups(pending)
    print(
        f"review queue: {len(pending)} items ({100 * len(pending) / asked:.0f} per 100 questions), "
        f"{len(groups)} rows to act on in /review list ({100 * len(groups) / asked:.0f} per 100)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="per mocked Discord call")
    parser.add_argument("--data-dir", type=Path, help="default: a fresh temporary folder")
    parser.add_argument(
        "--llama-server",
        action="store_true",
        help="start llama.cpp's server on the packaged GGUF and answer through it "
        "(QUANTUTOR_RUNTIME=server), instead of the configured in-process runtime",
    )
    args = parser.parse_args()
    configure_logging()
    with llama_server() if args.llama_server else contextlib.nullcontext({}) as served:
        return run(args, served)


def run(args, served: dict) -> int:
    from tutor.service import TutorService

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="quantutor-load-"))
    settings = load_settings(data_dir=data_dir, max_new_tokens=args.max_new_tokens, **served)
    service = TutorService.start(settings, progress=False)
    bot = build_bot(service, settings, admission=Admission(args.users, workers=settings.max_batch))
    try:
        traces, worst_lag_ms, wall_s = asyncio.run(drive(bot, args.users, args.latency_ms / 1000))
        ok = report(traces, worst_lag_ms, settings, wall_s)
        queue_figures(service.store.list_reviews("pending", 100_000), len(traces))
    finally:
        service.close()
    return 0 if ok else 1


@contextlib.contextmanager
def llama_server():
    """llama.cpp's OpenAI-compatible server on the packaged GGUF, all cores but one, one
    request drafted at a time (llama-cpp-python's server has no parallel slots); yields the
    settings that point the tutor at it."""
    from tutor.runtime.packaged import PACKAGED_NAME, served_packaged_gguf

    options = {"model_alias": PACKAGED_NAME, "n_threads": SERVER_THREADS}
    with served_packaged_gguf(**options, interrupt_requests=False) as url:
        yield {"runtime": "server", "server_url": url, "server_model": PACKAGED_NAME}


if __name__ == "__main__":
    sys.exit(main())
