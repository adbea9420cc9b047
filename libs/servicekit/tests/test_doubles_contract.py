"""servicekit.testing's doubles behave as the real thing: each test runs once over the double
(also in `make test-unit`) and once over Postgres and Kafka (`make test`).

- `OutboxRecorder` against `Outbox` on Postgres: what a service appends is what the relay
  would publish (topic, key, type, CloudEvents headers, payload), in order.
- `EventHarness` against `EventConsumer` on Kafka and Postgres: the handler sees the same
  event, envelope and attempt; its follow-up events are recorded, and none when it fails.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from devstack.kafka import TopicSpec
from devstack.stack import Stack
from servicekit.db.engine import Database
from servicekit.events import EventContext, HandlerRegistry, Outbox, PermanentError
from servicekit.events.kafka_security import KafkaSecurity
from servicekit.events.tables import OUTBOX
from servicekit.settings import ServiceSettings
from servicekit.testing import EventHarness, NetworkRefused, OutboxRecorder, refuse_network
from servicekit.testing.consumer import (
    ThingHappenedV1,
    ThingNotedV1,
    Topics,
    consumer_for,
    dead_letters,
    envelope_of,
    publish,
    running,
)
from servicekit.testing.events import eventually, prepare_event_tables

SERVICE = "consumer_it"
"""The appending service: `consumer_for`'s consumer appends follow-ups as this one."""
SCHEMA = "doubles_it"
DOUBLE = pytest.param("double", marks=pytest.mark.unit)
REAL = pytest.param("real")


@dataclass(frozen=True)
class Row:
    """An outbox row, as both implementations show it (ids and times differ by design)."""

    topic: str
    key: str
    event_type: str
    source: str
    payload: dict[str, Any]


Rows = Callable[[str], Awaitable[list[Row]]]


def _row(topic: str, key: str, event_type: str, headers: dict[str, str], payload: bytes) -> Row:
    return Row(topic, key, event_type, headers["ce_source"], json.loads(payload))


@pytest.fixture(scope="module")
async def database(
    scratch_database: Callable[[str, str], tuple[str, str]], kafka_settings: dict[str, str]
) -> AsyncIterator[Database]:
    admin_url, service_url = scratch_database(SCHEMA, SCHEMA)
    settings = ServiceSettings(
        service_name=SCHEMA, db_schema=SCHEMA, database_url=service_url, **kafka_settings
    )
    await prepare_event_tables(admin_url, settings)
    database = Database.from_settings(settings)
    yield database
    await database.dispose()


async def _postgres_rows(database: Database, key: str) -> list[Row]:
    async with database.transaction() as session:
        found = await session.execute(
            select(OUTBOX).where(OUTBOX.c.key == key).order_by(OUTBOX.c.id)
        )
        return [_row(row.topic, row.key, row.event_type, row.headers, row.payload) for row in found]


# -- OutboxRecorder is an Outbox ------------------------------------------------------------


Append = Callable[[Sequence[ThingHappenedV1 | ThingNotedV1]], Awaitable[None]]


@pytest.fixture(params=[DOUBLE, REAL])
def real_database(request: pytest.FixtureRequest) -> Database | None:
    """None for the double; the scratch database (and so the running stack) for the real."""
    return None if request.param == "double" else request.getfixturevalue("database")


@pytest.fixture
async def outbox_under_test(real_database: Database | None) -> tuple[Append, Rows]:
    if real_database is None:
        recorder = OutboxRecorder(SERVICE)

        async def append_to_recorder(events: Sequence[ThingHappenedV1 | ThingNotedV1]) -> None:
            await recorder.append_many(_unused_session(), events)

        async def recorded(key: str) -> list[Row]:
            return [
                _row(r.topic, r.key, r.event_type, r.headers, r.payload)
                for r in recorder.recorded
                if r.key == key
            ]

        return append_to_recorder, recorded
    database = real_database
    outbox = Outbox(SERVICE)

    async def append_in_a_transaction(events: Sequence[ThingHappenedV1 | ThingNotedV1]) -> None:
        async with database.transaction() as session:
            await outbox.append(session, events[0])
            await outbox.append_many(session, events[1:])

    async def rows(key: str) -> list[Row]:
        return await _postgres_rows(database, key)

    return append_in_a_transaction, rows


def _unused_session() -> AsyncSession:
    return None  # type: ignore[return-value]  # the recorder never touches it


async def test_appended_events_are_kept_in_order_as_the_relay_publishes_them(
    outbox_under_test: tuple[Append, Rows],
) -> None:
    append, rows = outbox_under_test
    thing_id = f"thing-{uuid.uuid4().hex[:8]}"

    await append(
        [
            ThingHappenedV1(thing_id=thing_id, seq=1),
            ThingNotedV1(thing_id=thing_id),
            ThingHappenedV1(thing_id=thing_id, seq=2),
        ]
    )

    assert await rows(thing_id) == [
        Row(
            "consumerit.thing",
            thing_id,
            ThingHappenedV1.EVENT_TYPE,
            f"/{SERVICE}",
            {"thing_id": thing_id, "seq": 1},
        ),
        Row(
            "consumerit.note",
            thing_id,
            ThingNotedV1.EVENT_TYPE,
            f"/{SERVICE}",
            {"thing_id": thing_id},
        ),
        Row(
            "consumerit.thing",
            thing_id,
            ThingHappenedV1.EVENT_TYPE,
            f"/{SERVICE}",
            {"thing_id": thing_id, "seq": 2},
        ),
    ]


# -- EventHarness delivers as EventConsumer does ----------------------------------------------


@dataclass(frozen=True)
class Seen:
    event: ThingHappenedV1
    event_type: str
    subject: str
    source: str
    attempt: int


def _registry(seen: list[Seen]) -> HandlerRegistry:
    """A handler that notes what it saw, appends a follow-up, and fails on a negative seq."""
    registry = HandlerRegistry()

    @registry.on(ThingHappenedV1)
    async def handle(session: AsyncSession, event: ThingHappenedV1, context: EventContext) -> None:
        envelope = context.envelope
        seen.append(Seen(event, envelope.type, envelope.subject, envelope.source, context.attempt))
        await context.outbox.append(session, ThingNotedV1(thing_id=event.thing_id))
        if event.seq < 0:
            raise PermanentError("a negative seq can never be handled")

    return registry


Deliver = Callable[[ThingHappenedV1], Awaitable[tuple[bool, list[Row]]]]
"""Deliver one event; whether the handler failed permanently, and the follow-ups it left."""


@pytest.fixture
async def delivery(
    request: pytest.FixtureRequest, real_database: Database | None
) -> AsyncIterator[tuple[Deliver, list[Seen]]]:
    seen: list[Seen] = []
    registry = _registry(seen)
    if real_database is None:
        harness = EventHarness(registry, outbox=OutboxRecorder(SERVICE))

        async def deliver_in_memory(event: ThingHappenedV1) -> tuple[bool, list[Row]]:
            try:
                follow_ups = await harness.deliver(event, source="/consumer-it")
            except PermanentError:
                return True, [
                    _row(r.topic, r.key, r.event_type, r.headers, r.payload)
                    for r in harness.outbox.recorded
                ]
            return False, [
                _row(r.topic, r.key, r.event_type, r.headers, r.payload) for r in follow_ups
            ]

        yield deliver_in_memory, seen
        return

    test_stack: Stack = request.getfixturevalue("test_stack")
    security: KafkaSecurity = request.getfixturevalue("kafka_security")
    options: dict[str, Any] = request.getfixturevalue("kafka_options")
    database = real_database
    topics = Topics(test_stack.kafka.bootstrap_servers, 2, security)
    test_stack.kafka.create_topics(
        [
            TopicSpec(topics.source, partitions=1),
            *(TopicSpec(name, partitions=1) for name in topics.retry),
            TopicSpec(topics.dlq, partitions=1),
        ]
    )
    consumer = consumer_for(topics, database, registry)
    producer = AIOKafkaProducer(bootstrap_servers=topics.servers, **options)
    await producer.start()

    async def deliver_through_kafka(event: ThingHappenedV1) -> tuple[bool, list[Row]]:
        await publish(producer, topics.source, envelope_of(event))
        if event.seq < 0:
            await dead_letters(topics, at_least=1)
            return True, await _postgres_rows(database, event.thing_id)

        async def followed_up() -> bool:
            return bool(await _postgres_rows(database, event.thing_id))

        await eventually(followed_up, what="the handler's follow-up in the outbox")
        return False, await _postgres_rows(database, event.thing_id)

    try:
        async with running(consumer):
            yield deliver_through_kafka, seen
    finally:
        await producer.stop()


async def test_the_handler_sees_the_event_once_and_its_follow_up_is_recorded(
    delivery: tuple[Deliver, list[Seen]],
) -> None:
    deliver, seen = delivery
    event = ThingHappenedV1(thing_id=f"thing-{uuid.uuid4().hex[:8]}", seq=3)

    failed, follow_ups = await deliver(event)

    assert not failed
    assert seen == [Seen(event, event.EVENT_TYPE, event.thing_id, "/consumer-it", 1)]
    assert follow_ups == [
        Row(
            "consumerit.note",
            event.thing_id,
            ThingNotedV1.EVENT_TYPE,
            f"/{SERVICE}",
            {"thing_id": event.thing_id},
        )
    ]


async def test_a_handler_that_fails_permanently_leaves_no_follow_up(
    delivery: tuple[Deliver, list[Seen]],
) -> None:
    deliver, seen = delivery
    event = ThingHappenedV1(thing_id=f"thing-{uuid.uuid4().hex[:8]}", seq=-1)

    failed, follow_ups = await deliver(event)

    assert failed
    assert [one.event for one in seen] == [event]  # a permanent error is not retried
    assert follow_ups == []


# -- the unit tier's own guarantees ------------------------------------------------------------


@pytest.mark.unit
def test_a_unit_test_cannot_reach_the_network_even_when_the_error_is_swallowed() -> None:
    import socket

    with refuse_network() as attempts:
        with pytest.raises(NetworkRefused):
            socket.create_connection(("127.0.0.1", 9))
        with socket.socket() as probe, contextlib.suppress(Exception):  # hidden by the code ...
            probe.connect(("127.0.0.1", 9))
    assert len(attempts) == 2  # ... and the guard still saw it


@pytest.mark.unit
async def test_a_handler_that_uses_its_session_is_told_it_is_not_a_unit() -> None:
    registry = HandlerRegistry()

    @registry.on(ThingHappenedV1)
    async def handle(session: AsyncSession, event: ThingHappenedV1, context: EventContext) -> None:
        await session.execute(select(OUTBOX))

    with pytest.raises(AssertionError, match="not a unit"):
        await EventHarness(registry).deliver(ThingHappenedV1(thing_id="t", seq=1))
