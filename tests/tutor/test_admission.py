"""Admission control: one line, first come first served, bounded, one question per user."""

import asyncio
import time

import pytest

from tutor.admission import Admission, LoopLag, describe_wait
from tutor.errors import AdmissionError


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_questions_take_turns_in_arrival_order():
    admission = Admission(capacity=10)
    order = []

    async def question(user: str, delay: float):
        await asyncio.sleep(delay)
        async with admission.admit(user) as ticket:
            await ticket.turn()
            order.append(user)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(question(f"u{i}", i * 0.001) for i in range(5)))
    assert order == [f"u{i}" for i in range(5)]


async def test_a_ticket_knows_how_many_are_ahead_and_roughly_how_long():
    admission = Admission(capacity=10)
    first = admission.admit("a")
    second = admission.admit("b")
    third = admission.admit("c")
    assert (first.ahead, second.ahead, third.ahead) == (0, 1, 2)
    assert third.estimated_wait_s == pytest.approx(2 * admission.mean_answer_s)
    for ticket in (first, second, third):
        admission.release(ticket)


async def test_one_question_in_flight_per_user():
    admission = Admission(capacity=10)
    ticket = admission.admit("a")
    with pytest.raises(AdmissionError, match="already have a question in progress"):
        admission.admit("a")
    admission.release(ticket)
    admission.release(admission.admit("a"))


async def test_a_cooldown_starts_when_the_answer_is_done():
    clock = Clock()
    admission = Admission(capacity=10, clock=clock)
    async with admission.admit("a", cooldown_s=30) as ticket:
        await ticket.turn()
        clock.now += 5
    clock.now += 10
    with pytest.raises(AdmissionError, match="wait about 20 s") as refused:
        admission.admit("a", cooldown_s=30)
    assert refused.value.retry_after_s == pytest.approx(20)
    clock.now += 20
    admission.release(admission.admit("a", cooldown_s=30))


async def test_a_full_line_tells_the_wait_instead_of_ignoring():
    admission = Admission(capacity=2)
    tickets = [admission.admit(user) for user in ("a", "b", "c")]  # one answering, two waiting
    with pytest.raises(AdmissionError, match=r"busy: 2 questions are waiting, about \d+ s") as e:
        admission.admit("d")
    assert e.value.retry_after_s > 0
    for ticket in tickets:
        admission.release(ticket)
    admission.release(admission.admit("d"))


async def test_giving_up_while_waiting_frees_the_place_without_a_cooldown():
    admission = Admission(capacity=10)
    first = admission.admit("a")
    waiter = asyncio.create_task(_wait_for_turn(admission, "b", cooldown_s=60))
    await asyncio.sleep(0.01)
    assert admission.waiting == 1
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert admission.waiting == 0
    admission.release(first)
    admission.release(admission.admit("b", cooldown_s=60))  # no cooldown: it never ran


async def _wait_for_turn(admission: Admission, user: str, cooldown_s: float) -> None:
    async with admission.admit(user, cooldown_s) as ticket:
        await ticket.turn()


async def test_the_estimate_follows_measured_answer_times():
    clock = Clock()
    admission = Admission(capacity=10, clock=clock)
    before = admission.mean_answer_s
    for user in ("a", "b", "c"):
        async with admission.admit(user) as ticket:
            await ticket.turn()
            clock.now += 30
    assert before < admission.mean_answer_s < 30


def test_waits_read_as_people_say_them():
    assert describe_wait(0.2) == "about 1 s"
    assert describe_wait(40) == "about 40 s"
    assert describe_wait(200) == "about 4 min"


async def test_the_heartbeat_sees_a_blocked_loop():
    lag = LoopLag(interval_s=0.01)
    lag.start()
    await asyncio.sleep(0.05)
    time.sleep(0.2)  # blocks the loop on purpose
    await asyncio.sleep(0.05)
    await lag.stop()
    assert lag.worst_ms > 150 and lag.beats > 2
