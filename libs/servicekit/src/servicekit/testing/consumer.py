"""The world of servicekit's event-consumer tests: their events, an effect log that shows
every effect a handler had (so a second effect of one event is visible), and the steps a test
takes — publish, run a consumer, wait for effects, read the dead letters and metrics.

The fixtures that need the running stack (the database, a producer, fresh topics) are in
servicekit's `tests/consumer/conftest.py`; everything here is plain functions of them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import REGISTRY
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Event
from servicekit.db.engine import Database
from servicekit.events.consumer import EventConsumer
from servicekit.events.dead_letters import DeadLetter, read_dead_letters
from servicekit.events.envelope import EventEnvelope
from servicekit.events.handlers import EventContext, HandlerRegistry
from servicekit.events.kafka_security import KafkaSecurity
from servicekit.events.outbox import Outbox
from servicekit.events.tables import add_event_tables
from servicekit.ids import new_id
from servicekit.testing.events import eventually

SCHEMA = "consumer_it"
MiB = 1024 * 1024


class ThingHappenedV1(Event):
    EVENT_TYPE: ClassVar[str] = "consumerit.thing.happened.v1"
    TOPIC: ClassVar[str] = "consumerit.thing"
    SUBJECT_FIELD: ClassVar[str] = "thing_id"

    thing_id: str
    seq: int


class ThingNotedV1(Event):
    EVENT_TYPE: ClassVar[str] = "consumerit.thing.noted.v1"
    TOPIC: ClassVar[str] = "consumerit.note"
    SUBJECT_FIELD: ClassVar[str] = "thing_id"

    thing_id: str


METADATA = MetaData()
add_event_tables(METADATA)
EFFECTS = Table(
    "effects",
    METADATA,
    # Deliberately no unique constraint: a second effect of one event would show up here.
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("grp", String(100), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("thing_id", String(100), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("who", String(20), nullable=False),
    Column("at", DateTime(timezone=True), server_default=func.clock_timestamp()),
)


# -- the steps of a test --------------------------------------------------------------------


class Topics:
    """One test's topics, named afresh: its source, `<group>.retry.<n>` and `<group>.dlq`
    (the conftest's `make_topics` creates them on the stack's broker)."""

    def __init__(self, servers: str, tiers: int = 2, security: KafkaSecurity | None = None) -> None:
        self.group = f"cit-{uuid.uuid4().hex[:10]}"
        self.source = f"consumerit.{uuid.uuid4().hex[:10]}"
        self.retry = [f"{self.group}.retry.{n}" for n in range(1, tiers + 1)]
        self.dlq = f"{self.group}.dlq"
        self.servers = servers
        self.security = security or KafkaSecurity()


def consumer_for(
    topics: Topics, database: Database, registry: HandlerRegistry, **overrides: Any
) -> EventConsumer:
    options: dict[str, Any] = {
        "retry_delays_s": (0.2, 0.5),
        "in_place_attempts": 2,
        "in_place_backoff_s": 0.01,
        "shutdown_timeout_s": 1.0,
        "consumer_options": {"heartbeat_interval_ms": 300, "session_timeout_ms": 10_000},
    }
    options.update(overrides)
    return EventConsumer(
        group=topics.group,
        topics=[topics.source],
        registry=registry,
        database=database,
        outbox=Outbox("consumer_it"),
        bootstrap_servers=topics.servers,
        security=topics.security,
        **options,
    )


@asynccontextmanager
async def running(*consumers: EventConsumer) -> AsyncIterator[None]:
    for consumer in consumers:
        await consumer.start()
    try:
        yield
    finally:
        for consumer in consumers:
            await consumer.stop()


def thing(seq: int, thing_id: str = "thing-1") -> ThingHappenedV1:
    return ThingHappenedV1(thing_id=thing_id, seq=seq)


def envelope_of(
    event: Event, event_id: str | None = None, *, source: str = "/consumer-it", **trace: str
) -> EventEnvelope:
    return EventEnvelope(
        id=event_id or new_id("evt"),
        type=event.EVENT_TYPE,
        source=source,
        subject=event.subject(),
        time=datetime.now(UTC),
        data=event.model_dump_json().encode(),
        trace_headers=dict(trace),
    )


async def publish(
    producer: AIOKafkaProducer,
    topic: str,
    envelope: EventEnvelope,
    *,
    partition: int | None = None,
    value: bytes | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> int:
    sent = await producer.send_and_wait(
        topic,
        value=envelope.data if value is None else value,
        key=envelope.key,
        partition=partition,
        headers=envelope.kafka_headers() if headers is None else headers,
    )
    return int(sent.offset)


def recording_handler(
    registry: HandlerRegistry, group: str, who: str = "A"
) -> Callable[[Callable[[ThingHappenedV1, EventContext], Awaitable[None]]], None]:
    """Register a handler that first runs `before` (which may raise or block), then records
    the effect."""

    def register(before: Callable[[ThingHappenedV1, EventContext], Awaitable[None]]) -> None:
        @registry.on(ThingHappenedV1)
        async def handle(
            session: AsyncSession, event: ThingHappenedV1, context: EventContext
        ) -> None:
            await before(event, context)
            await session.execute(
                insert(EFFECTS).values(
                    grp=group,
                    event_id=context.envelope.id,
                    thing_id=event.thing_id,
                    seq=event.seq,
                    attempt=context.attempt,
                    who=who,
                )
            )

    return register


async def effects(database: Database, group: str) -> list[Any]:
    async with database.transaction() as session:
        rows = await session.execute(
            select(EFFECTS).where(EFFECTS.c.grp == group).order_by(EFFECTS.c.id)
        )
        return list(rows.all())


async def effect_count_reaches(
    database: Database, group: str, n: int, timeout_s: float = 30.0
) -> list[Any]:
    async def enough() -> bool:
        return len(await effects(database, group)) >= n

    await eventually(enough, timeout_s, what=f"{n} effects of {group}")
    return await effects(database, group)


def consumed(group: str, outcome: str, event_type: str = ThingHappenedV1.EVENT_TYPE) -> float:
    value = REGISTRY.get_sample_value(
        "flotilla_events_consumed_total",
        {"group": group, "event_type": event_type, "outcome": outcome},
    )
    return value or 0.0


def fetch_failing(group: str) -> float | None:
    """`flotilla_consumer_fetch_failing` of the group (None before its first fetch or error)."""
    return REGISTRY.get_sample_value("flotilla_consumer_fetch_failing", {"group": group})


async def dead_letters(topics: Topics, at_least: int) -> list[DeadLetter]:
    letters: list[DeadLetter] = []

    async def arrived() -> bool:
        nonlocal letters
        letters = await read_dead_letters(topics.servers, topics.dlq, security=topics.security)
        return len(letters) >= at_least

    await eventually(arrived, what=f"{at_least} dead letters in {topics.dlq}")
    return letters


async def end_offset(servers: str, topic: str, security: KafkaSecurity | None = None) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers,
        enable_auto_commit=False,
        **(security or KafkaSecurity()).client_options(),
    )
    try:
        await consumer.start()
        tp = TopicPartition(topic, 0)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


async def no_op(event: ThingHappenedV1, context: EventContext) -> None:
    return None


async def publish_all(
    producer: AIOKafkaProducer, topics: Topics, envelopes: list[EventEnvelope]
) -> None:
    """Publish every record before the consumer starts, so they arrive in one fetch."""
    for envelope in envelopes:
        await publish(producer, topics.source, envelope)
