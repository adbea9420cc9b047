"""The database going away is an outage, not a failing handler: the consumer pauses, spends
no attempts, retry tiers or dead letters on it, says so (readiness, `flotilla_consumer_paused`),
and handles every record exactly once when the database answers again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devstack.postgres import PostgresCluster
from servicekit.db.engine import Database
from servicekit.events.consumer import EventConsumer
from servicekit.events.handlers import EventContext, HandlerRegistry
from servicekit.health import DependencyCheck, Health
from servicekit.testing.consumer import (
    METADATA,
    SCHEMA,
    ThingHappenedV1,
    Topics,
    consumed,
    consumer_for,
    dead_letters,
    effect_count_reaches,
    effects,
    end_offset,
    envelope_of,
    no_op,
    publish,
    recording_handler,
    running,
    thing,
)
from servicekit.testing.events import eventually

RECORDS = 20


@pytest.fixture
async def own_database(own_postgres: PostgresCluster) -> AsyncIterator[Database]:
    own_postgres.ensure_database("flotilla")
    engine = create_async_engine(
        own_postgres.admin_dsn("flotilla", driver="postgresql+asyncpg"),
        pool_size=10,
        connect_args={"server_settings": {"search_path": SCHEMA}},
    )
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        await connection.run_sync(METADATA.create_all)
    yield Database(engine)
    await engine.dispose()


def paused(group: str) -> float | None:
    return REGISTRY.get_sample_value(
        "flotilla_consumer_paused", {"group": group, "reason": "database"}
    )


async def not_ready_reason(consumer: EventConsumer) -> str | None:
    """What /readyz says of the consumer's check (`DependencyCheck("kafka", consumer.probe)`)."""
    health = Health("consumer-it", "0", "0", [DependencyCheck("kafka", consumer.probe, 5.0)])
    check = (await health.run_checks())["kafka"]
    if check["status"] == "pass":
        return None
    return str(check.get("reason", check["error"]))


async def forwarded(topics: Topics) -> list[int]:
    """End offsets of the group's retry topics and its DLQ: all 0 while nothing was sent."""
    return [
        await end_offset(topics.servers, topic, topics.security)
        for topic in (*topics.retry, topics.dlq)
    ]


async def test_records_arriving_while_the_database_is_down_wait_for_it_and_are_handled_once(
    topics: Topics,
    own_postgres: PostgresCluster,
    own_database: Database,
    producer: AIOKafkaProducer,
) -> None:
    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(no_op)
    consumer = consumer_for(topics, own_database, registry)
    async with running(consumer):
        await publish(producer, topics.source, envelope_of(thing(0)))
        await effect_count_reaches(own_database, topics.group, 1)
        assert await not_ready_reason(consumer) is None

        own_postgres.stop()
        for seq in range(1, RECORDS + 1):
            await publish(producer, topics.source, envelope_of(thing(seq)))
        await eventually(lambda: paused(topics.group) == 1, what="the consumer to pause")
        assert await not_ready_reason(consumer) == "paused: database unavailable"
        assert consumer.assignment, "paused, not revoked"
        assert await forwarded(topics) == [0] * (len(topics.retry) + 1)

        # In a thread: the consumer keeps probing while Postgres starts, as it would in a pod.
        await asyncio.to_thread(own_postgres.start)
        back = time.monotonic()
        rows = await effect_count_reaches(own_database, topics.group, RECORDS + 1)
        drained_s = time.monotonic() - back
        await eventually(lambda: paused(topics.group) == 0, what="the pause to end")

        async def ready() -> bool:
            return await not_ready_reason(consumer) is None

        await eventually(ready, timeout_s=10.0, what="readiness again")

    print(f"database back → {RECORDS} records drained in {drained_s:.2f}s")
    assert sorted(row.seq for row in rows) == list(range(RECORDS + 1))
    assert len({row.event_id for row in rows}) == RECORDS + 1
    assert all(row.attempt == 1 for row in rows), "no attempt was spent on the outage"
    assert len(await effects(own_database, topics.group)) == RECORDS + 1
    assert consumed(topics.group, "retried") == 0
    assert consumed(topics.group, "dead_lettered") == 0
    assert consumed(topics.group, "processed") == RECORDS + 1
    assert await forwarded(topics) == [0] * (len(topics.retry) + 1)


async def test_a_connection_error_while_the_database_answers_is_the_handlers_failure(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    """A handler's call to another service refused looks like an outage; the database's probe
    answering says it is not: the record goes through the retry tiers to the DLQ as usual."""
    registry = HandlerRegistry()

    async def refused(event: ThingHappenedV1, context: EventContext) -> None:
        raise ConnectionRefusedError("the downstream refused")

    recording_handler(registry, topics.group)(refused)
    async with running(consumer_for(topics, database, registry)):
        await publish(producer, topics.source, envelope_of(thing(1)))
        (letter,) = await dead_letters(topics, 1)
    assert letter.reason == "retries_exhausted"
    assert consumed(topics.group, "retried") == len(topics.retry)
    assert paused(topics.group) is None
