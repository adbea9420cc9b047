"""A partition whose queue is full is not fetched for until its worker has worked half of it
off; what was fetched for it is kept, and the other partitions go on meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from servicekit.db.engine import Database
from servicekit.events.handlers import EventContext, HandlerRegistry
from servicekit.testing.consumer import (
    ThingHappenedV1,
    Topics,
    consumer_for,
    effect_count_reaches,
    effects,
    envelope_of,
    publish,
    recording_handler,
    running,
    thing,
)

_STUCK = 120  # records behind the stuck one: many times the queue's limit of 5


async def test_a_full_partition_gets_every_record_in_order_and_holds_up_no_other(
    make_topics: Callable[..., Topics], database: Database, producer: AIOKafkaProducer
) -> None:
    topics = make_topics(source_partitions=2)
    released = asyncio.Event()

    async def first_slow_record_waits(event: ThingHappenedV1, context: EventContext) -> None:
        if event.thing_id == "slow" and event.seq == 0:
            await asyncio.wait_for(released.wait(), 30)

    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(first_slow_record_waits)
    for seq in range(_STUCK):
        await publish(producer, topics.source, envelope_of(thing(seq, "slow")), partition=0)
    for seq in range(30):
        await publish(producer, topics.source, envelope_of(thing(seq, "fast")), partition=1)

    # A queue of 5 (max_poll_records 5, batches of 2): partition 0 is full almost at once.
    consumer = consumer_for(topics, database, registry, max_poll_records=5, max_batch_size=2)
    async with running(consumer):
        await effect_count_reaches(database, topics.group, 30)
        assert not any(row.thing_id == "slow" for row in await effects(database, topics.group))
        for seq in range(30, 40):  # the other partition is still fetched for, more than once
            await publish(producer, topics.source, envelope_of(thing(seq, "fast")), partition=1)
        await effect_count_reaches(database, topics.group, 40)
        released.set()
        rows = await effect_count_reaches(database, topics.group, 40 + _STUCK)

    assert [row.seq for row in rows if row.thing_id == "slow"] == list(range(_STUCK))
    assert [row.seq for row in rows if row.thing_id == "fast"] == list(range(40))
