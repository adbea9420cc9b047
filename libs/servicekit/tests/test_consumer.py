"""The event consumer against the test stack's real Kafka and Postgres.

Every test has its own consumer group and topics (source, `<group>.retry.<n>`, `<group>.dlq`),
and waits on conditions with a deadline — never on a sleep — for what the consumer does.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
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
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from contracts.base import Event
from devstack.kafka import TopicSpec
from devstack.stack import Stack
from servicekit import dlq
from servicekit.db.bootstrap import RoleSpec, ensure_role_and_schema
from servicekit.db.engine import Database
from servicekit.events.consumer import ConsumerNotReady, EventConsumer
from servicekit.events.dead_letters import DeadLetter, read_dead_letters
from servicekit.events.envelope import EventEnvelope
from servicekit.events.handlers import EventContext, HandlerRegistry, PermanentError
from servicekit.events.outbox import Outbox
from servicekit.events.tables import OUTBOX, add_event_tables
from servicekit.ids import new_id

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


_metadata = MetaData()
add_event_tables(_metadata)
EFFECTS = Table(
    "effects",
    _metadata,
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


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
async def database(
    scratch_database: Callable[[str, str], tuple[str, str]],
) -> AsyncIterator[Database]:
    admin_url, service_url = scratch_database("consumer_it", SCHEMA)
    # A fixed password rather than scratch_database's fresh one: two test runs at once (two
    # engineers, or CI shards) would otherwise rotate it under each other's connections.
    url = make_url(service_url).set(password="consumer-it-not-a-secret")
    service_url = url.render_as_string(hide_password=False)
    assert url.username
    assert url.database
    await ensure_role_and_schema(
        admin_url, RoleSpec(url.username, "consumer-it-not-a-secret", SCHEMA, url.database)
    )
    engine = create_async_engine(
        service_url,
        pool_size=10,
        connect_args={"server_settings": {"search_path": SCHEMA}},
    )
    async with engine.begin() as connection:
        await connection.execute(text("SELECT pg_advisory_xact_lock(7212)"))  # runs at once
        await connection.run_sync(_metadata.create_all)
    yield Database(engine)
    await engine.dispose()


@pytest.fixture(scope="module")
async def producer(test_stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        max_request_size=4 * MiB,
    )
    await producer.start()
    yield producer
    await producer.stop()


class Topics:
    def __init__(self, stack: Stack, source_partitions: int = 1, tiers: int = 2, **config: str):
        self.group = f"cit-{uuid.uuid4().hex[:10]}"
        self.source = f"consumerit.{uuid.uuid4().hex[:10]}"
        self.retry = [f"{self.group}.retry.{n}" for n in range(1, tiers + 1)]
        self.dlq = f"{self.group}.dlq"
        self.servers = stack.kafka.bootstrap_servers
        source_config = {"max.message.bytes": str(3 * MiB)} if config.get("big") else {}
        stack.kafka.create_topics(
            [
                TopicSpec(self.source, partitions=source_partitions, config=source_config),
                *(TopicSpec(name, partitions=1) for name in self.retry),
                TopicSpec(self.dlq, partitions=1),
            ]
        )


@pytest.fixture
def topics(test_stack: Stack) -> Topics:
    return Topics(test_stack)


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


def envelope_of(event: Event, event_id: str | None = None, **trace: str) -> EventEnvelope:
    return EventEnvelope(
        id=event_id or new_id("evt"),
        type=event.EVENT_TYPE,
        source="/consumer-it",
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


async def eventually(
    condition: Callable[[], Awaitable[bool] | bool], what: str, timeout_s: float = 30.0
) -> None:
    """Wait until `condition()` holds (checked every 50 ms); fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not await _holds(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def effect_count_reaches(
    database: Database, group: str, n: int, timeout_s: float = 30.0
) -> list[Any]:
    async def enough() -> bool:
        return len(await effects(database, group)) >= n

    await eventually(enough, f"{n} effects of {group}", timeout_s)
    return await effects(database, group)


async def _holds(condition: Callable[[], Awaitable[bool] | bool]) -> bool:
    result = condition()
    return await result if inspect.isawaitable(result) else result


def consumed(group: str, outcome: str, event_type: str = ThingHappenedV1.EVENT_TYPE) -> float:
    value = REGISTRY.get_sample_value(
        "flotilla_events_consumed_total",
        {"group": group, "event_type": event_type, "outcome": outcome},
    )
    return value or 0.0


async def dead_letters(topics: Topics, at_least: int) -> list[DeadLetter]:
    letters: list[DeadLetter] = []

    async def arrived() -> bool:
        nonlocal letters
        letters = await read_dead_letters(topics.servers, topics.dlq)
        return len(letters) >= at_least

    await eventually(arrived, f"{at_least} dead letters in {topics.dlq}")
    return letters


async def end_offset(servers: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    try:
        await consumer.start()
        tp = TopicPartition(topic, 0)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


async def no_op(event: ThingHappenedV1, context: EventContext) -> None:
    return None


# -- exactly one effect ----------------------------------------------------------------------


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
        await eventually(lambda: (consumed(topics.group, "duplicate") == 1), "duplicate")

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
            "all 30 records redelivered",
        )
        rows = await effects(database, topics.group)

    assert sorted(row.seq for row in rows) == list(range(30))  # each exactly once
    assert {row.who for row in rows if row.seq >= 15} == {"B"}
    assert consumed(topics.group, "duplicate") == 15  # A's 15 effects, redelivered and skipped


async def _rewind_group(topics: Topics, tp: TopicPartition) -> None:
    rewinder = AIOKafkaConsumer(
        bootstrap_servers=topics.servers, group_id=topics.group, enable_auto_commit=False
    )
    try:
        await rewinder.start()
        rewinder.assign([tp])
        await rewinder.commit({tp: 0})
        assert await rewinder.committed(tp) == 0
    finally:
        await rewinder.stop()


async def test_a_second_consumer_takes_over_partitions_and_each_event_has_one_effect(
    test_stack: Stack, database: Database, producer: AIOKafkaProducer
) -> None:
    topics = Topics(test_stack, source_partitions=4)
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
                "B to get source partitions",
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


# -- poison, retries and the DLQ ------------------------------------------------------------


async def test_poison_records_never_crash_or_stall_the_consumer(
    test_stack: Stack, database: Database, producer: AIOKafkaProducer
) -> None:
    topics = Topics(test_stack, big="yes")
    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(no_op)
    malformed = envelope_of(thing(1))
    offsets = {
        "malformed": await publish(
            producer, topics.source, malformed, value=b'{"thing_id": "x", "seq": '
        ),
        "headerless": await publish(
            producer, topics.source, malformed, headers=[("content-type", b"application/json")]
        ),
        "v9": await publish(
            producer,
            topics.source,
            envelope_of(thing(3)),
            headers=[
                (k, b"consumerit.thing.happened.v9" if k == "ce_type" else v)
                for k, v in envelope_of(thing(3)).kafka_headers()
            ],
        ),
        "huge": await publish(
            producer,
            topics.source,
            envelope_of(thing(4)),
            value=b'{"pad": "' + b"x" * (3 * MiB // 2) + b'"}',
        ),
        "wrong shape": await publish(
            producer, topics.source, envelope_of(thing(5)), value=b'{"seq": "five"}'
        ),
    }
    good = envelope_of(thing(6))
    await publish(producer, topics.source, good)

    async with running(consumer_for(topics, database, registry)):
        rows = await effect_count_reaches(database, topics.group, 1)
        letters = await dead_letters(topics, 4)

    assert [row.event_id for row in rows] == [good.id]
    by_offset = {int(letter.header("flotilla_original_offset")): letter for letter in letters}
    assert set(by_offset) == {
        offsets[name] for name in ("malformed", "headerless", "huge", "wrong shape")
    }
    reasons = {
        name: by_offset[offsets[name]].reason
        for name in ("malformed", "headerless", "huge", "wrong shape")
    }
    assert reasons == {
        "malformed": "invalid_payload",
        "headerless": "invalid_envelope",
        "huge": "too_large",
        "wrong shape": "invalid_payload",
    }
    bad_json = by_offset[offsets["malformed"]]
    assert bad_json.event_id == malformed.id
    assert bad_json.value == b'{"thing_id": "x", "seq": '  # kept verbatim
    assert "Invalid JSON" in bad_json.header("flotilla_error_message")
    assert bad_json.header("flotilla_error_type") == "InvalidPayload"
    assert bad_json.header("flotilla_original_topic") == topics.source
    assert bad_json.header("flotilla_original_partition") == "0"
    assert bad_json.header("flotilla_consumer_group") == topics.group
    assert bad_json.header("flotilla_attempts") == "0"
    datetime.fromisoformat(bad_json.failed_at)
    assert "ce_specversion" in by_offset[offsets["headerless"]].header("flotilla_error_message")
    assert by_offset[offsets["headerless"]].header("flotilla_error_type") == "InvalidEnvelope"
    # Too big for the DLQ topic itself (1 MiB): kept without its value, and nothing stalled.
    huge = by_offset[offsets["huge"]]
    assert huge.value == b""
    assert int(huge.header("flotilla_payload_omitted")) > MiB
    unknown = consumed(topics.group, "unknown_type", "consumerit.thing.happened.v9")
    assert unknown == 1
    assert consumed(topics.group, "invalid") == 3  # the headerless one has no readable type


async def test_unknown_types_can_be_dead_lettered_instead_of_skipped(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    note = envelope_of(ThingNotedV1(thing_id="t"))
    await publish(producer, topics.source, note)
    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(no_op)
    async with running(consumer_for(topics, database, registry, unknown_types="dlq")):
        [letter] = await dead_letters(topics, 1)
    assert letter.reason == "unknown_type"
    assert letter.event_id == note.id


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
    assert [await end_offset(topics.servers, t) for t in topics.retry] == [1, 1]
    assert await end_offset(topics.servers, topics.dlq) == 0
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
    assert [await end_offset(topics.servers, t) for t in topics.retry] == [0, 0]


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
        assert await end_offset(topics.servers, topics.retry[0]) == 1  # nothing sent

        broken = False  # the fix is deployed
        assert await dlq.run(redrive) == 0
        [row] = await effect_count_reaches(database, topics.group, 1)
        assert row.event_id == failing.id
        assert row.attempt == 1

        sent = await end_offset(topics.servers, topics.retry[0])
        assert await dlq.run(redrive) == 0  # already redriven: nothing is sent again
        assert await end_offset(topics.servers, topics.retry[0]) == sent
    assert len(await effects(database, topics.group)) == 1
    [letter] = await read_dead_letters(topics.servers, topics.dlq)
    assert len(letter.redriven_at) == 1


# -- order, parallelism, tracing, lifecycle --------------------------------------------------


async def test_order_is_kept_per_partition_while_partitions_proceed_in_parallel(
    test_stack: Stack, database: Database, producer: AIOKafkaProducer
) -> None:
    topics = Topics(test_stack, source_partitions=3)
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


# -- batches: the records already fetched for a partition, in one transaction -------------


async def _publish_then_run(
    producer: AIOKafkaProducer, topics: Topics, envelopes: list[EventEnvelope]
) -> None:
    """Publish every record before the consumer starts, so they arrive in one fetch."""
    for envelope in envelopes:
        await publish(producer, topics.source, envelope)


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
    await _publish_then_run(producer, topics, [envelope_of(thing(seq)) for seq in range(20)])

    async with running(consumer_for(topics, database, registry)):
        [letter] = await dead_letters(topics, 1)
        rows = await effect_count_reaches(database, topics.group, 19)
        await eventually(lambda: consumed(topics.group, "processed") == 19, "19 processed")

    assert sorted(row.seq for row in rows) == [s for s in range(20) if s != 7]  # once each
    assert [row.seq for row in rows] == sorted(row.seq for row in rows)  # in order
    assert letter.reason == "retries_exhausted"
    assert letter.header("flotilla_attempts") == "6"  # 2 in place x (source + 2 tiers)
    assert consumed(topics.group, "retried") == 2
    assert consumed(topics.group, "dead_lettered") == 1
    assert consumed(topics.group, "duplicate") == 0
    # The batch's failed attempt counts as seq 7's first in-place attempt: 2 per topic.
    assert calls[7] == 6


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
        await _publish_then_run(producer, topics, old)
        await effect_count_reaches(database, topics.group, 5)
    assert consumed(topics.group, "processed") == 5

    # Redelivered old events, interleaved with new ones (and one new one twice), all queued
    # before the consumer starts again so they are handled as batches.
    new = [envelope_of(thing(seq)) for seq in range(5, 10)]
    mixed = [old[0], new[0], old[1], new[1], new[1], old[2], new[2], old[3], new[3], old[4]]
    mixed.append(new[4])
    seen.clear()
    await _publish_then_run(producer, topics, mixed)
    async with running(consumer_for(topics, database, registry)):
        await eventually(
            lambda: consumed(topics.group, "processed") + consumed(topics.group, "duplicate") >= 16,
            "the mixed records",
        )
        rows = await effects(database, topics.group)

    assert seen == [5, 6, 7, 8, 9]  # only the new ones ran, in order
    assert sorted(row.seq for row in rows) == list(range(10))  # one effect each
    assert consumed(topics.group, "processed") == 10
    assert consumed(topics.group, "duplicate") == 6


async def test_batches_keep_order_within_each_partition(
    test_stack: Stack, database: Database, producer: AIOKafkaProducer
) -> None:
    topics = Topics(test_stack, source_partitions=3)
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


async def test_the_consumer_span_continues_the_producers_trace_into_the_outbox(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = HandlerRegistry()

    @registry.on(ThingHappenedV1)
    async def note_it(session: AsyncSession, event: ThingHappenedV1, context: EventContext) -> None:
        await context.outbox.append(session, ThingNotedV1(thing_id=event.thing_id))

    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    incoming = envelope_of(
        thing(1, f"traced-{topics.group}"), traceparent=f"00-{trace_id}-{parent_id}-01"
    )
    offset = await publish(producer, topics.source, incoming)

    async def noted() -> bool:
        async with database.transaction() as session:
            rows = await session.execute(
                select(OUTBOX.c.headers).where(OUTBOX.c.key == f"traced-{topics.group}")
            )
            return rows.first() is not None

    async with running(consumer_for(topics, database, registry, tracer_provider=provider)):
        await eventually(noted, "the handler's outbox row")
    async with database.transaction() as session:
        headers = (
            await session.execute(
                select(OUTBOX.c.headers).where(OUTBOX.c.key == f"traced-{topics.group}")
            )
        ).scalar_one()

    [span] = [s for s in exporter.get_finished_spans() if s.name == f"process {topics.source}"]
    assert span.kind is SpanKind.CONSUMER
    assert span.parent is not None
    assert span.parent.span_id == int(parent_id, 16)
    assert span.context.trace_id == int(trace_id, 16)
    attributes = dict(span.attributes or {})
    expected = {
        "messaging.system": "kafka",
        "messaging.destination.name": topics.source,
        "messaging.operation.type": "process",
        "messaging.kafka.consumer.group": topics.group,
        "messaging.message.id": incoming.id,
        "messaging.kafka.message.key": incoming.subject,
        "messaging.destination.partition.id": "0",
        "messaging.kafka.offset": offset,
    }
    assert {name: attributes.get(name) for name in expected} == expected
    assert not any("seq" in str(value) for value in attributes.values())  # never the payload
    _, out_trace, out_parent, _ = headers["traceparent"].split("-")
    assert out_trace == trace_id
    assert int(out_parent, 16) == span.context.span_id


async def test_lifespan_and_readiness_probe(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(no_op)
    consumer = consumer_for(topics, database, registry)
    with pytest.raises(ConsumerNotReady):
        await consumer.probe()

    async def ready() -> bool:
        try:
            await consumer.probe()
        except ConsumerNotReady:
            return False
        return True

    async with consumer.lifespan(FastAPI()):
        await eventually(ready, "the consumer to be ready")
        await publish(producer, topics.source, envelope_of(thing(1)))
        await effect_count_reaches(database, topics.group, 1)
    with pytest.raises(ConsumerNotReady):
        await consumer.probe()


async def test_missing_group_topics_keep_the_consumer_unready_without_crashing(
    test_stack: Stack, database: Database
) -> None:
    topics = Topics(test_stack, tiers=0)
    registry = HandlerRegistry()
    consumer = consumer_for(topics, database, registry, retry_delays_s=(0.2,))  # no .retry.1
    async with running(consumer):
        await eventually(
            lambda: ("MissingTopics" in repr(consumer._last_error)), "the missing topics"
        )
        with pytest.raises(ConsumerNotReady, match=r"retry\.1"):
            await consumer.probe()


async def test_an_unreachable_broker_keeps_the_consumer_unready_without_crashing(
    topics: Topics, database: Database
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody_listens = f"127.0.0.1:{probe.getsockname()[1]}"
    topics.servers = nobody_listens
    consumer = consumer_for(topics, database, HandlerRegistry())
    async with running(consumer):
        await eventually(
            lambda: "KafkaConnectionError" in repr(consumer._last_error), "a connection error"
        )
        with pytest.raises(ConsumerNotReady):
            await consumer.probe()
