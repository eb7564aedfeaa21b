"""Admission control for model work, and a heartbeat that shows whether the loop ever blocks.

The model worker drafts up to `workers` answers at once (one batch); the rest wait in
one bounded, first-come line. Each user has at most one question in flight and a
cooldown after it; a refused user is told why and how long to wait. Pure asyncio: no
Discord in here.

    async with admission.admit(user_id, cooldown_s) as ticket:  # may raise AdmissionError
        ...tell the user ticket.ahead / ticket.estimated_wait_s...
        await ticket.turn()  # the model is ours until the block ends
        ...
"""

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable

from tutor.errors import AdmissionError

log = logging.getLogger(__name__)

# What one answer takes before any has been timed: a 64-token draft on a 2-core CPU.
FIRST_ESTIMATE_S = 8.0
# Weight of the newest answer in the running mean of answer times.
ESTIMATE_WEIGHT = 0.2


def describe_wait(seconds: float) -> str:
    """'about 40 s', 'about 3 min': a wait as a person would say it."""
    if seconds < 90:
        return f"about {max(1, math.ceil(seconds))} s"
    return f"about {math.ceil(seconds / 60)} min"


class Ticket:
    """One admitted question: its place in line, then its turn with the model."""

    def __init__(self, admission: "Admission", user_id: str, cooldown_s: float, ahead: int):
        self._admission = admission
        self.user_id = user_id
        self.cooldown_s = cooldown_s
        self.ahead = ahead  # questions before this one when it was admitted
        self.estimated_wait_s = admission.estimate_wait(ahead)
        self.admitted_at = admission.clock()
        self.started_at: float | None = None
        self._turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def waited_s(self) -> float:
        return (self.started_at or self._admission.clock()) - self.admitted_at

    async def turn(self) -> None:
        """Wait until the model is free for this question."""
        await asyncio.shield(self._turn)
        self.started_at = self._admission.clock()

    async def __aenter__(self) -> "Ticket":
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._admission.release(self)


class Admission:
    def __init__(
        self,
        capacity: int = 30,
        workers: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.capacity = capacity  # questions that may wait, beyond those being answered
        self.workers = workers
        self.clock = clock
        self.mean_answer_s = FIRST_ESTIMATE_S
        self._line: deque[Ticket] = deque()
        self._answering: set[Ticket] = set()
        self._in_flight: dict[str, Ticket] = {}
        self._cooldown_until: dict[str, float] = {}

    @property
    def waiting(self) -> int:
        return len(self._line)

    def estimate_wait(self, ahead: int) -> float:
        return ahead * self.mean_answer_s / self.workers

    def admit(self, user_id: str, cooldown_s: float = 0.0) -> Ticket:
        """A place in line, or an AdmissionError saying why not and how long to wait."""
        if user_id in self._in_flight:
            raise AdmissionError(
                "You already have a question in progress: I will answer that one first.",
                retry_after_s=self.mean_answer_s,
            )
        remaining = self._cooldown_until.get(user_id, 0.0) - self.clock()
        if remaining > 0:
            raise AdmissionError(
                f"Please wait {describe_wait(remaining)} before asking again "
                "(this server has a cooldown between questions).",
                retry_after_s=remaining,
            )
        if len(self._line) >= self.capacity and len(self._answering) >= self.workers:
            wait = self.estimate_wait(len(self._line) + len(self._answering))
            raise AdmissionError(
                f"I'm busy: {len(self._line)} questions are waiting, {describe_wait(wait)} "
                f"of work. Please ask again in {describe_wait(self.mean_answer_s)}.",
                retry_after_s=self.mean_answer_s,
            )
        ticket = Ticket(self, user_id, cooldown_s, ahead=len(self._line) + len(self._answering))
        self._line.append(ticket)
        self._in_flight[user_id] = ticket
        self._start_next()
        return ticket

    def release(self, ticket: Ticket) -> None:
        """The question is done (or abandoned): free its place and start the cooldown."""
        if self._in_flight.get(ticket.user_id) is not ticket:
            return  # released already
        del self._in_flight[ticket.user_id]
        if ticket in self._answering:
            self._answering.discard(ticket)
        else:
            self._line.remove(ticket)
        if ticket.started_at is not None:  # a question given up before its turn costs nothing
            now = self.clock()
            self.mean_answer_s += ESTIMATE_WEIGHT * (now - ticket.started_at - self.mean_answer_s)
            self._cooldown_until[ticket.user_id] = now + ticket.cooldown_s
        self._start_next()

    def _start_next(self) -> None:
        while self._line and len(self._answering) < self.workers:
            ticket = self._line.popleft()
            self._answering.add(ticket)
            ticket._turn.set_result(None)


class LoopLag:
    """A heartbeat on the event loop: how late it wakes up shows how long the loop was blocked."""

    def __init__(self, interval_s: float = 0.05, warn_ms: float = 250.0):
        self.interval_s = interval_s
        self.warn_ms = warn_ms
        self.worst_ms = 0.0
        self.beats = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._beat(), name="loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def reset(self) -> None:
        self.worst_ms, self.beats = 0.0, 0

    async def _beat(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            lag_ms = (time.perf_counter() - before - self.interval_s) * 1000
            self.beats += 1
            self.worst_ms = max(self.worst_ms, lag_ms)
            if lag_ms > self.warn_ms:
                log.warning("event loop blocked for %.0f ms", lag_ms)
