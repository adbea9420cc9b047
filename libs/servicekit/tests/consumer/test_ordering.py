"""Order is kept within each partition, one at a time or in batches, while partitions proceed
in parallel up to `max_concurrency`."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from servicekit.db.engine import Database
from servicekit.events.envelope import EventEnvelope
from servicekit.events.handlers import EventContext, HandlerRegistry
from servicekit.testing.consumer import (
    ThingHappenedV1,
    Topics,
    consumed,
    consumer_for,
    effect_count_reaches,
    effects,
    envelope_of,
    publish,
    recording_handler,
    running,
    thing,
)


async def test_order_is_kept_per_partition_while_partitions_proceed_in_parallel(
    make_topics: Callable[..., Topics], database: Database, producer: AIOKafkaProducer
) -> None:
    topics = make_topics(source_partitions=3)
    others_done = asyncio.Event()
    active = 0
    most_active = 0

    async def slow_partition_waits(event: ThingHappenedV1, context: EventContext) -> None:
        nonlocal active, most_active
        active += 1
        most_active = max(most_active, active)
        try:
            if event.thing_id == "slow" and event.seq == 0:
                await asyncio.wait_for(others_done.wait(), 20)
            await asyncio.sleep(0.002)
        finally:
            active -= 1

    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(slow_partition_waits)
    for seq in range(20):
        for partition, thing_id in enumerate(("slow", "fast-1", "fast-2")):
            await publish(
                producer, topics.source, envelope_of(thing(seq, thing_id)), partition=partition
            )

    async with running(consumer_for(topics, database, registry, max_concurrency=2)):
        # Partition 0 is stuck on its first record; the other two drain meanwhile.
        await effect_count_reaches(database, topics.group, 40)
        assert not any(row.thing_id == "slow" for row in await effects(database, topics.group))
        others_done.set()
        rows = await effect_count_reaches(database, topics.group, 60)

    for thing_id in ("slow", "fast-1", "fast-2"):
        assert [row.seq for row in rows if row.thing_id == thing_id] == list(range(20))
    assert most_active <= 2


async def test_batches_keep_order_within_each_partition(
    make_topics: Callable[..., Topics], database: Database, producer: AIOKafkaProducer
) -> None:
    topics = make_topics(source_partitions=3)
    handled: dict[str, list[int]] = defaultdict(list)

    async def record_order(event: ThingHappenedV1, context: EventContext) -> None:
        handled[event.thing_id].append(event.seq)

    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(record_order)
    keys = [f"key-{n}" for n in range(6)]
    for seq in range(150):
        for key in keys:
            await producer.send(topics.source, **_raw(envelope_of(thing(seq, key))))
    await producer.flush()

    consumer = consumer_for(topics, database, registry, max_batch_size=40)
    async with running(consumer):
        rows = await effect_count_reaches(database, topics.group, 900, timeout_s=60)
    async with database.transaction() as session:
        transactions = await session.scalar(
            text("SELECT count(DISTINCT xmin::text) FROM effects WHERE grp = :grp"),
            {"grp": topics.group},
        )

    for key in keys:
        assert handled[key] == list(range(150))
        assert [row.seq for row in rows if row.thing_id == key] == list(range(150))
    assert consumed(topics.group, "processed") == 900
    assert transactions is not None
    assert transactions < 900  # effects were committed several per transaction: batches


def _raw(envelope: EventEnvelope) -> dict[str, Any]:
    return {"value": envelope.data, "key": envelope.key, "headers": envelope.kafka_headers()}
