"""In-process queueing of requests that carry the same idempotency key (`KeyLocks`)."""

from __future__ import annotations

import asyncio

import pytest

from servicekit.idempotency.key_locks import KeyLocks, KeyLockTimeout


async def test_a_duplicate_waits_for_the_first_and_other_keys_do_not() -> None:
    locks = KeyLocks()
    order: list[str] = []
    first_inside = asyncio.Event()
    let_first_finish = asyncio.Event()

    async def first() -> None:
        async with locks.hold("key", timeout_s=5):
            order.append("first in")
            first_inside.set()
            await let_first_finish.wait()
            order.append("first out")

    async def duplicate() -> None:
        async with locks.hold("key", timeout_s=5):
            order.append("duplicate in")

    running = asyncio.create_task(first())
    await first_inside.wait()
    waiting = asyncio.create_task(duplicate())
    async with locks.hold("another key", timeout_s=5):
        order.append("another key in")
    let_first_finish.set()
    await asyncio.gather(running, waiting)
    assert order == ["first in", "another key in", "first out", "duplicate in"]
    assert len(locks) == 0


async def test_a_duplicate_waiting_past_its_timeout_gives_up_and_the_first_keeps_the_key() -> None:
    locks = KeyLocks()
    async with locks.hold("key", timeout_s=5):
        with pytest.raises(KeyLockTimeout):
            async with locks.hold("key", timeout_s=0.05):
                pytest.fail("entered while the key was held")
        assert len(locks) == 1
    assert len(locks) == 0
    async with locks.hold("key", timeout_s=0.05):  # free again
        assert len(locks) == 1


async def test_an_error_inside_releases_the_key() -> None:
    locks = KeyLocks()
    with pytest.raises(LookupError):
        async with locks.hold("key", timeout_s=5):
            raise LookupError("the handler failed")
    assert len(locks) == 0
    async with locks.hold("key", timeout_s=0.05):
        pass
