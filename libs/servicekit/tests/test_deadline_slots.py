"""A request's deadline cancels its task, and only that cancellation becomes a TimeoutError
(what `asyncio.timeout` promises), while requests share one timer per 10 ms slot."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from servicekit.asgi.deadline import DeadlineSlots

pytestmark = pytest.mark.unit


async def test_work_past_its_deadline_is_cut_with_a_timeout_error() -> None:
    slots = DeadlineSlots(asyncio.get_running_loop())
    task = asyncio.current_task()
    assert task is not None

    with pytest.raises(TimeoutError):
        await slots.run(asyncio.sleep(5), budget_s=0.02)

    assert task.cancelling() == 0  # the deadline's cancellation was taken back


async def test_work_within_its_deadline_returns_and_leaves_no_timer_behind() -> None:
    slots = DeadlineSlots(asyncio.get_running_loop())

    await slots.run(asyncio.sleep(0), budget_s=0.05)
    await asyncio.sleep(0.08)  # the slot's timer fires with nobody in it

    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    slots = DeadlineSlots(asyncio.get_running_loop())
    request = asyncio.create_task(slots.run(asyncio.sleep(5), budget_s=5))
    await asyncio.sleep(0.01)

    request.cancel()  # a server shutting down, not the deadline

    with pytest.raises(asyncio.CancelledError):
        await request


async def test_a_shutdown_that_coincides_with_the_deadline_is_not_swallowed() -> None:
    slots = DeadlineSlots(asyncio.get_running_loop())

    async def cancelled_twice() -> None:
        task = asyncio.current_task()
        assert task is not None
        waiting = asyncio.get_running_loop().create_future()
        # Somebody else (a server shutting down) cancels the task as the deadline does, before
        # it resumes: this callback runs before the task's own wake-up.
        waiting.add_done_callback(lambda _: task.cancel())
        await waiting

    request = asyncio.create_task(slots.run(cancelled_twice(), budget_s=0.02))
    with pytest.raises(asyncio.CancelledError):
        await request


async def test_work_that_swallows_the_cut_finishes_and_the_cancellation_is_taken_back() -> None:
    slots = DeadlineSlots(asyncio.get_running_loop())

    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(5)

    await slots.run(stubborn(), budget_s=0.02)

    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_nested_deadlines_each_cut_their_own_work() -> None:
    slots = DeadlineSlots(asyncio.get_running_loop())

    async def inner_cut_outer_fine() -> str:
        try:
            await slots.run(asyncio.sleep(5), budget_s=0.02)
        except TimeoutError:
            return "inner cut"
        return "inner finished"

    outcome: list[str] = []

    async def outer() -> None:
        outcome.append(await inner_cut_outer_fine())

    await slots.run(outer(), budget_s=1)
    assert outcome == ["inner cut"]

    with pytest.raises(TimeoutError):  # the outer one cut: the inner work does not claim it
        await slots.run(slots.run(asyncio.sleep(5), budget_s=5), budget_s=0.02)
