"""The inbox: however often an event is delivered — twice, after a consumer died mid-batch,
after its partition moved to another consumer, or in a batch among new ones — it has one effect."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import REGISTRY

from servicekit.db.engine import Database
from servicekit.events.handlers import EventContext, HandlerRegistry
from servicekit.testing.consumer import (
    ThingHappenedV1,
    Topics,
    consumed,
    consumer_for,
    effect_count_reaches,
    effects,
    envelope_of,
    no_op,
    publish,
    publish_all,
    recording_handler,
    running,
    thing,
)
from servicekit.testing.events import eventually


async def test_the_same_event_delivered_twice_has_one_effect(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(no_op)
    twice = envelope_of(thing(1))
    await publish(producer, topics.source, twice)
    await publish(producer, topics.source, twice)
    await publish(producer, topics.source, envelope_of(thing(2)))

    async with running(consumer_for(topics, database, registry)):
        rows = await effect_count_reaches(database, topics.group, 2)
        await eventually(lambda: (consumed(topics.group, "duplicate") == 1), what="duplicate")

    assert sorted(row.seq for row in rows) == [1, 2]
    assert [row.event_id for row in rows].count(twice.id) == 1
    assert consumed(topics.group, "processed") == 2
    lag = REGISTRY.get_sample_value(
        "flotilla_consumer_lag", {"group": topics.group, "topic": topics.source, "partition": "0"}
    )
    assert lag in (None, 0.0)  # removed when the partition was released, else caught up


async def test_redelivery_after_a_consumer_dies_mid_batch_has_one_effect(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    stuck = asyncio.Event()  # never set: the first consumer hangs on seq 15 until abandoned

    async def hang_on_15(event: ThingHappenedV1, context: EventContext) -> None:
        if event.seq == 15:
            await stuck.wait()

    first = HandlerRegistry()
    recording_handler(first, topics.group, "A")(hang_on_15)
    for seq in range(30):
        await publish(producer, topics.source, envelope_of(thing(seq)))

    consumer_a = consumer_for(topics, database, first, shutdown_timeout_s=0.5)
    async with running(consumer_a):
        await effect_count_reaches(database, topics.group, 15)
    # A stopped with seq 15 in flight: abandoned, its transaction rolled back. Now lose every
    # commit A made, as if it had crashed right after its transactions committed.
    await _rewind_group(topics, TopicPartition(topics.source, 0))

    second = HandlerRegistry()
    recording_handler(second, topics.group, "B")(no_op)
    async with running(consumer_for(topics, database, second)):
        await eventually(
            lambda: (
                consumed(topics.group, "duplicate") + consumed(topics.group, "processed") >= 45
            ),
            what="all 30 records redelivered",
        )
        rows = await effects(database, topics.group)

    assert sorted(row.seq for row in rows) == list(range(30))  # each exactly once
    assert {row.who for row in rows if row.seq >= 15} == {"B"}
    assert consumed(topics.group, "duplicate") == 15  # A's 15 effects, redelivered and skipped


async def _rewind_group(topics: Topics, tp: TopicPartition) -> None:
    rewinder = AIOKafkaConsumer(
        bootstrap_servers=topics.servers,
        group_id=topics.group,
        enable_auto_commit=False,
        **topics.security.client_options(),
    )
    try:
        await rewinder.start()
        rewinder.assign([tp])
        await rewinder.commit({tp: 0})
        assert await rewinder.committed(tp) == 0
    finally:
        await rewinder.stop()


async def test_a_second_consumer_takes_over_partitions_and_each_event_has_one_effect(
    make_topics: Callable[..., Topics], database: Database, producer: AIOKafkaProducer
) -> None:
    topics = make_topics(source_partitions=4)
    release = asyncio.Event()

    async def a_hangs_from_seq_5(event: ThingHappenedV1, context: EventContext) -> None:
        if event.seq >= 5:
            await release.wait()

    registry_a, registry_b = HandlerRegistry(), HandlerRegistry()
    recording_handler(registry_a, topics.group, "A")(a_hangs_from_seq_5)
    recording_handler(registry_b, topics.group, "B")(no_op)
    for seq in range(10):  # all first halves come before any second half, in every partition
        for key in range(8):
            await publish(producer, topics.source, envelope_of(thing(seq, f"thing-{key}")))

    consumer_a = consumer_for(topics, database, registry_a, max_concurrency=4)
    consumer_b = consumer_for(topics, database, registry_b)
    async with running(consumer_a):
        await effect_count_reaches(database, topics.group, 8 * 5)  # A is stuck on every key
        async with running(consumer_b):
            # B's join revokes A's partitions: A abandons its stuck records (rolled back) and
            # commits what it processed, so B starts right after it.
            await eventually(
                lambda: (any(tp.topic == topics.source for tp in consumer_b.assignment)),
                what="B to get source partitions",
            )
            release.set()
            rows = await effect_count_reaches(database, topics.group, 80)

    per_event: dict[tuple[str, int], int] = defaultdict(int)
    for row in rows:
        per_event[(row.thing_id, row.seq)] += 1
    assert len(per_event) == 80
    assert set(per_event.values()) == {1}
    assert any(row.who == "B" for row in rows)
    assert consumed(topics.group, "duplicate") == 0  # A's offsets were committed on revoke


async def test_a_batch_of_duplicates_and_new_events_runs_only_the_new_ones(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    seen: list[int] = []

    async def note(event: ThingHappenedV1, context: EventContext) -> None:
        seen.append(event.seq)

    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(note)
    old = [envelope_of(thing(seq)) for seq in range(5)]
    async with running(consumer_for(topics, database, registry)):
        await publish_all(producer, topics, old)
        await effect_count_reaches(database, topics.group, 5)
    assert consumed(topics.group, "processed") == 5

    # Redelivered old events, interleaved with new ones (and one new one twice), all queued
    # before the consumer starts again so they are handled as batches.
    new = [envelope_of(thing(seq)) for seq in range(5, 10)]
    mixed = [old[0], new[0], old[1], new[1], new[1], old[2], new[2], old[3], new[3], old[4]]
    mixed.append(new[4])
    seen.clear()
    await publish_all(producer, topics, mixed)
    async with running(consumer_for(topics, database, registry)):
        await eventually(
            lambda: consumed(topics.group, "processed") + consumed(topics.group, "duplicate") >= 16,
            what="the mixed records",
        )
        rows = await effects(database, topics.group)

    assert seen == [5, 6, 7, 8, 9]  # only the new ones ran, in order
    assert sorted(row.seq for row in rows) == list(range(10))  # one effect each
    assert consumed(topics.group, "processed") == 10
    assert consumed(topics.group, "duplicate") == 6
