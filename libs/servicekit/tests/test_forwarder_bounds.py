"""The forwarder gives up on a broker that does not take a record after a bounded number of
attempts, and waits between them outside its caller's concurrency slot."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from servicekit.events.forwarding import Forwarder, ForwardingFailed
from servicekit.events.retry import Origin
from servicekit.events.slots import ConcurrencySlots


class _BrokerDown:
    def __init__(self) -> None:
        self.sends = 0

    async def send_and_wait(self, topic: str, **kwargs: Any) -> None:
        self.sends += 1
        raise KafkaConnectionError("broker down")


async def test_a_broker_that_stays_down_fails_the_forward_after_the_last_attempt() -> None:
    producer = _BrokerDown()
    waits: list[float] = []

    async def sleep(delay_s: float) -> None:
        waits.append(delay_s)

    forwarder = Forwarder(
        producer,  # type: ignore[arg-type]
        group="g",
        dlq_topic="g.dlq",
        max_attempts=4,
        sleep=sleep,
    )
    with pytest.raises(ForwardingFailed, match=r"g\.retry\.1"):
        await forwarder.to_retry(
            "g.retry.1",
            key=b"k",
            value=b"v",
            headers=[],
            origin=Origin("src", 0, 7),
            attempts=3,
            not_before_ms=0,
            error=RuntimeError("handler failed"),
        )
    assert producer.sends == 4
    assert waits == [0.5, 1.0, 2.0]


async def test_waiting_outside_the_slot_lets_another_batch_take_it() -> None:
    slots = ConcurrencySlots(1)
    other_ran = asyncio.Event()

    async def other() -> None:
        async with slots.held():
            other_ran.set()

    async with slots.held():
        task = asyncio.create_task(other())
        for _ in range(100):  # the only slot: `other` takes it while this one waits
            await slots.sleep_outside(0)
            if other_ran.is_set():
                break
        assert other_ran.is_set()
    await task


async def test_sleeping_outside_a_slot_not_held_takes_none() -> None:
    slots = ConcurrencySlots(1)
    await slots.sleep_outside(0)
    async with asyncio.timeout(1):
        async with slots.held():
            pass
