"""A failing handler: retried in place, then through the retry topics, then dead-lettered (at
once for a PermanentError), and redriven from the DLQ exactly once; a failure in a batch
leaves its neighbours processed."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from aiokafka import AIOKafkaProducer

from servicekit import dlq
from servicekit.db.engine import Database
from servicekit.events.dead_letters import read_dead_letters
from servicekit.events.handlers import EventContext, HandlerRegistry, PermanentError
from servicekit.testing.consumer import (
    ThingHappenedV1,
    Topics,
    consumed,
    consumer_for,
    dead_letters,
    effect_count_reaches,
    effects,
    end_offset,
    envelope_of,
    publish,
    publish_all,
    recording_handler,
    running,
    thing,
)
from servicekit.testing.events import eventually


async def test_transient_failures_go_through_the_retry_topics_then_succeed_exactly_once(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    started: dict[int, float] = {}

    async def fail_four_times(event: ThingHappenedV1, context: EventContext) -> None:
        started[context.attempt] = time.time()
        if context.attempt <= 4:
            raise ConnectionError(f"dependency down (attempt {context.attempt})")

    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(fail_four_times)
    await publish(producer, topics.source, envelope_of(thing(1)))

    async with running(consumer_for(topics, database, registry)):
        [row] = await effect_count_reaches(database, topics.group, 1)

    # Attempts 1-2 in place on the source, 3-4 on retry.1, 5 (the first on retry.2) succeeds.
    assert row.attempt == 5
    assert [await end_offset(topics.servers, t, topics.security) for t in topics.retry] == [1, 1]
    assert await end_offset(topics.servers, topics.dlq, topics.security) == 0
    assert consumed(topics.group, "retried") == 2
    assert consumed(topics.group, "processed") == 1
    # Each tier waited its delay (0.2 s, then 0.5 s) after the record was forwarded.
    assert started[3] - started[2] >= 0.2
    assert started[5] - started[4] >= 0.5


async def test_a_hanging_handler_times_out_and_is_retried(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    async def hang_first_time(event: ThingHappenedV1, context: EventContext) -> None:
        if context.attempt == 1:
            await asyncio.Event().wait()

    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(hang_first_time)
    await publish(producer, topics.source, envelope_of(thing(1)))
    async with running(consumer_for(topics, database, registry, handler_timeout_s=0.3)):
        [row] = await effect_count_reaches(database, topics.group, 1)
    assert row.attempt == 2


async def test_permanent_errors_are_dead_lettered_at_once(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    async def refuse(event: ThingHappenedV1, context: EventContext) -> None:
        if event.seq == 1:
            raise PermanentError("thing 1 can never be handled")

    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(refuse)
    await publish(producer, topics.source, envelope_of(thing(1)))
    await publish(producer, topics.source, envelope_of(thing(2)))
    async with running(consumer_for(topics, database, registry)):
        [row] = await effect_count_reaches(database, topics.group, 1)
        [letter] = await dead_letters(topics, 1)
    assert row.seq == 2
    assert letter.reason == "permanent_error"
    assert letter.header("flotilla_attempts") == "1"
    assert letter.header("flotilla_error_type") == "PermanentError"
    assert [await end_offset(topics.servers, t, topics.security) for t in topics.retry] == [0, 0]


async def test_an_event_failing_every_tier_is_dead_lettered_and_redriven_exactly_once(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    broken = True

    async def fail_while_broken(event: ThingHappenedV1, context: EventContext) -> None:
        if broken:
            raise RuntimeError("the handler has a bug")

    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(fail_while_broken)
    failing = envelope_of(thing(1))
    source_offset = await publish(producer, topics.source, failing)
    redrive = ["redrive", "--group", topics.group, "--bootstrap-servers", topics.servers]

    async with running(consumer_for(topics, database, registry)):
        [letter] = await dead_letters(topics, 1)
        assert letter.event_id == failing.id
        assert letter.reason == "retries_exhausted"
        assert letter.header("flotilla_attempts") == "6"  # 2 in place x (source + 2 tiers)
        assert letter.header("flotilla_error_type") == "RuntimeError"
        assert letter.header("flotilla_error_message") == "the handler has a bug"
        assert letter.header("flotilla_original_topic") == topics.source
        assert letter.header("flotilla_original_offset") == str(source_offset)
        assert await effects(database, topics.group) == []

        assert await dlq.run([*redrive, "--dry-run"]) == 0
        assert (
            await end_offset(topics.servers, topics.retry[0], topics.security) == 1
        )  # nothing sent

        broken = False  # the fix is deployed
        assert await dlq.run(redrive) == 0
        [row] = await effect_count_reaches(database, topics.group, 1)
        assert row.event_id == failing.id
        assert row.attempt == 1

        sent = await end_offset(topics.servers, topics.retry[0], topics.security)
        assert await dlq.run(redrive) == 0  # already redriven: nothing is sent again
        assert await end_offset(topics.servers, topics.retry[0], topics.security) == sent
    assert len(await effects(database, topics.group)) == 1
    [letter] = await read_dead_letters(topics.servers, topics.dlq, security=topics.security)
    assert len(letter.redriven_at) == 1


async def test_a_failing_event_in_a_batch_leaves_its_neighbours_processed_exactly_once(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    calls: dict[int, int] = defaultdict(int)

    async def seven_always_fails(event: ThingHappenedV1, context: EventContext) -> None:
        calls[event.seq] += 1
        if event.seq == 7:
            raise ConnectionError("seq 7's dependency is down")

    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(seven_always_fails)
    await publish_all(producer, topics, [envelope_of(thing(seq)) for seq in range(20)])

    async with running(consumer_for(topics, database, registry)):
        [letter] = await dead_letters(topics, 1)
        rows = await effect_count_reaches(database, topics.group, 19)
        await eventually(lambda: consumed(topics.group, "processed") == 19, what="19 processed")

    assert sorted(row.seq for row in rows) == [s for s in range(20) if s != 7]  # once each
    assert [row.seq for row in rows] == sorted(row.seq for row in rows)  # in order
    assert letter.reason == "retries_exhausted"
    assert letter.header("flotilla_attempts") == "6"  # 2 in place x (source + 2 tiers)
    assert consumed(topics.group, "retried") == 2
    assert consumed(topics.group, "dead_lettered") == 1
    assert consumed(topics.group, "duplicate") == 0
    # The batch's failed attempt counts as seq 7's first in-place attempt: 2 per topic.
    assert calls[7] == 6
