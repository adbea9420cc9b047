"""The outbox relay against real Postgres and Kafka: in order, nothing lost, one leader, and
the outbox left holding only what is still to be sent."""

from __future__ import annotations

import json
import secrets
import shutil
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from devstack.kafka import KafkaBroker, TopicSpec
from devstack.process import free_port
from devstack.profiles import Profile
from devstack.stack import Stack
from servicekit.db.engine import Database
from servicekit.events.outbox import Outbox
from servicekit.events.relay import OutboxRelay, RelaySettings
from servicekit.events.tables import OUTBOX
from servicekit.observability.metrics import OUTBOX_BACKLOG
from servicekit.settings import ServiceSettings
from servicekit.testing.events import (
    ThingHappened,
    event_on_topic,
    eventually,
    prepare_event_tables,
    read_topic,
    unique,
)

FAST = RelaySettings(poll_interval_s=0.1, standby_interval_s=0.2, retry_backoff_s=0.2)


@pytest.fixture(scope="module")
async def relay_settings(
    scratch_database: Callable[[str, str], tuple[str, str]], kafka_settings: dict[str, str]
) -> ServiceSettings:
    admin_url, service_url = scratch_database("relay_it", "relay_it")
    settings = ServiceSettings(
        service_name="relay_it",
        db_schema="relay_it",
        database_url=service_url,
        **kafka_settings,
    )
    await prepare_event_tables(admin_url, settings)
    return settings


@pytest.fixture
async def database(relay_settings: ServiceSettings) -> AsyncIterator[Database]:
    database = Database.from_settings(relay_settings)
    async with database.transaction() as session:
        await session.execute(OUTBOX.delete())
    yield database
    await database.dispose()


@pytest.fixture
def topic(test_stack: Stack) -> str:
    name = unique("relayit.thing")
    test_stack.kafka.create_topics([TopicSpec(name, partitions=3)])
    return name


async def _append(database: Database, outbox: Outbox, events: list[ThingHappened]) -> None:
    async with database.transaction() as session:
        for event in events:
            await outbox.append(session, event)


async def _append_then_fail(database: Database, outbox: Outbox, event: ThingHappened) -> None:
    """A use case that appends its event and then fails: its transaction rolls back."""
    async with database.transaction() as session:
        await outbox.append(session, event)
        raise RuntimeError("the use case failed")


def _relay(
    database: Database,
    outbox: Outbox,
    kafka: ServiceSettings,
    kind: type[OutboxRelay] = OutboxRelay,
    settings: RelaySettings = FAST,
) -> OutboxRelay:
    """A relay of the test's database to the Kafka `kafka` names."""
    return kind(
        service="relay_it",
        database=database,
        outbox=outbox,
        bootstrap_servers=str(kafka.kafka_bootstrap_servers),
        settings=settings,
        security=kafka.kafka_security(),
    )


async def _read(kafka: ServiceSettings, topic: str, count: int) -> list[Any]:
    return await read_topic(
        str(kafka.kafka_bootstrap_servers), topic, count, security=kafka.kafka_security()
    )


async def _rows_in_outbox(database: Database) -> int:
    async with database.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(OUTBOX))
    return int(count or 0)


def _sequences_by_key(records: list[Any]) -> dict[str, list[int]]:
    """Each aggregate's sequence numbers, in the order of their first appearance."""
    seen: dict[str, list[int]] = defaultdict(list)
    for record in records:
        sequence = json.loads(record.value)["sequence"]
        if sequence not in seen[record.key]:
            seen[record.key].append(sequence)
    return seen


async def test_committed_events_are_published_in_order_per_aggregate_as_cloudevents(
    database: Database, topic: str, relay_settings: ServiceSettings
) -> None:
    outbox = Outbox("relay_it")
    model = event_on_topic(topic)
    for sequence in range(10):
        await _append(
            database, outbox, [model(thing_id=f"thg_{k}", sequence=sequence) for k in "abc"]
        )
    relay = _relay(database, outbox, relay_settings)
    await relay.start()
    try:
        records = await _read(relay_settings, topic, 30)
        await eventually(lambda: _is_zero(_rows_in_outbox(database)), what="all rows sent")
    finally:
        await relay.stop()
    assert len(records) == 30
    assert _sequences_by_key(records) == {f"thg_{k}": list(range(10)) for k in "abc"}
    headers = records[0].headers
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "relayit.thing.happened.v1"
    assert headers["ce_source"] == "/relay_it"
    assert headers["ce_id"].startswith("evt_")
    assert headers["ce_subject"] == records[0].key
    assert headers["content-type"] == "application/json"
    assert len({record.partition for record in records if record.key == "thg_a"}) == 1


async def test_rows_waiting_when_the_relay_looks_go_out_as_one_counted_batch(
    database: Database, topic: str, relay_settings: ServiceSettings
) -> None:
    outbox = Outbox("relay_it")
    model = event_on_topic(topic)
    for sequence in range(4):  # four transactions, committed before the relay starts
        await _append(database, outbox, [model(thing_id="thg_batched", sequence=sequence)])
    batches_before = _counted("flotilla_outbox_batches_total")
    published_before = _counted("flotilla_outbox_published_total")
    relay = _relay(database, outbox, relay_settings)
    await relay.start()
    try:
        records = await _read(relay_settings, topic, 4)
        await eventually(lambda: _is_zero(_rows_in_outbox(database)), what="all rows sent")
    finally:
        await relay.stop()
    assert [json.loads(record.value)["sequence"] for record in records] == [0, 1, 2, 3]
    assert _counted("flotilla_outbox_published_total") - published_before == 4
    assert _counted("flotilla_outbox_batches_total") - batches_before == 1


def _counted(counter: str) -> float:
    return REGISTRY.get_sample_value(counter) or 0.0


async def test_a_rolled_back_transaction_publishes_nothing(
    database: Database, topic: str, relay_settings: ServiceSettings
) -> None:
    outbox = Outbox("relay_it")
    model = event_on_topic(topic)
    with pytest.raises(RuntimeError):
        await _append_then_fail(database, outbox, model(thing_id="thg_gone", sequence=0))
    await _append(database, outbox, [model(thing_id="thg_kept", sequence=0)])
    relay = _relay(database, outbox, relay_settings)
    await relay.start()
    try:
        records = await _read(relay_settings, topic, 1)
        await eventually(lambda: _is_zero(_rows_in_outbox(database)), what="all rows sent")
    finally:
        await relay.stop()
    assert [record.key for record in records] == ["thg_kept"]


async def test_the_relay_is_woken_when_a_transaction_that_appended_commits_never_before(
    database: Database,
) -> None:
    outbox = Outbox("relay_it")
    with pytest.raises(RuntimeError):
        await _append_then_fail(database, outbox, ThingHappened(thing_id="thg_gone", sequence=0))
    assert not outbox.committed.is_set()
    async with database.transaction() as session:
        await outbox.append(session, ThingHappened(thing_id="thg_kept", sequence=0))
        await outbox.append(session, ThingHappened(thing_id="thg_kept", sequence=1))
        assert not outbox.committed.is_set()
    assert outbox.committed.is_set()


async def test_a_batch_is_read_and_deleted_with_no_transaction_around_its_statements(
    database: Database, relay_settings: ServiceSettings, topic: str
) -> None:
    """Every statement the relay sends stands alone (autocommit): the BEGIN and COMMIT round
    trips a transaction would add around the batch's read and again around its delete are not
    sent."""
    relay_database = Database.from_settings(relay_settings)  # the relay's connection only
    statements: list[str] = []  # what SQLAlchemy executes
    plain_queries: list[str] = []  # what asyncpg sends unprepared: BEGIN, COMMIT, ROLLBACK

    def log_plain_queries(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(
            lambda query: plain_queries.append(query.query.split(None, 1)[0].rstrip(";"))
        )

    def log_statement(*args: Any) -> None:
        statements.append(args[2].split(None, 1)[0])

    event.listen(relay_database.engine.sync_engine, "connect", log_plain_queries)
    event.listen(relay_database.engine.sync_engine, "before_cursor_execute", log_statement)
    outbox = Outbox("relay_it")
    model = event_on_topic(topic)
    await _append(database, outbox, [model(thing_id="thg_t", sequence=n) for n in range(3)])
    relay = _relay(relay_database, outbox, relay_settings)
    await relay.start()
    try:
        await _read(relay_settings, topic, 3)
        await eventually(lambda: _is_zero(_rows_in_outbox(database)), what="all rows sent")
    finally:
        await relay.stop()
    relays_plain_queries = list(plain_queries)
    # The control: a transaction on the same engine is seen by the query logger.
    async with relay_database.transaction() as session:
        await session.execute(select(1))
    await relay_database.dispose()
    assert "DELETE" in statements  # the batch was taken out of the outbox
    assert not {"BEGIN", "COMMIT", "ROLLBACK"} & {q.upper() for q in relays_plain_queries}
    assert "BEGIN" in {q.upper() for q in plain_queries[len(relays_plain_queries) :]}


class _CrashBeforeDeleting(OutboxRelay):
    """Dies once after Kafka acknowledged a batch but before deleting its rows (as the next
    batch is read), like a kill -9."""

    crashed = False

    async def _next_batch(self, connection: AsyncConnection, sent: list[int]) -> list[Any]:
        if sent and not self.crashed:
            type(self).crashed = True
            await connection.invalidate()
            raise ConnectionResetError("killed between publish and delete")
        return await super()._next_batch(connection, sent)


async def test_a_crash_between_publish_and_delete_republishes_and_loses_nothing(
    database: Database, topic: str, relay_settings: ServiceSettings
) -> None:
    outbox = Outbox("relay_it")
    model = event_on_topic(topic)
    await _append(database, outbox, [model(thing_id="thg_x", sequence=n) for n in range(5)])
    relay = _relay(database, outbox, relay_settings, _CrashBeforeDeleting)
    await relay.start()
    try:
        await eventually(lambda: _is_zero(_rows_in_outbox(database)), what="all rows sent")
        records = await _read(relay_settings, topic, 10)
    finally:
        await relay.stop()
    assert _CrashBeforeDeleting.crashed
    assert len(records) == 10  # every event twice: duplicates, which consumers dedupe
    assert len({record.headers["ce_id"] for record in records}) == 5
    assert _sequences_by_key(records) == {"thg_x": [0, 1, 2, 3, 4]}


async def test_a_batch_sent_is_deleted_as_the_next_is_read_and_a_stopping_relay_deletes_its_last(
    database: Database, topic: str, relay_settings: ServiceSettings
) -> None:
    """Kafka acknowledged the first batch: its row stays, out of the backlog, until the next
    commit wakes the relay, whose read of the next batch deletes it; stopping deletes the last
    batch. (No timer fires here: the relay would otherwise look again after a minute.)"""
    outbox = Outbox("relay_it")
    model = event_on_topic(topic)
    patient = RelaySettings(
        poll_interval_s=60, delete_within_s=60, housekeeping_interval_s=0, retry_backoff_s=0.2
    )
    relay = _relay(database, outbox, relay_settings, settings=patient)
    await _append(database, outbox, [model(thing_id="thg_d", sequence=0)])
    OUTBOX_BACKLOG.set(-1)
    await relay.start()
    try:
        await _read(relay_settings, topic, 1)
        await eventually(lambda: _counted("flotilla_outbox_backlog") == 0, what="the backlog read")
        assert await _outbox_sequences(database) == [0]  # sent, not yet deleted

        await _append(database, outbox, [model(thing_id="thg_d", sequence=1)])
        await _read(relay_settings, topic, 2)
        assert await _outbox_sequences(database) == [1]
    finally:
        await relay.stop()
    assert await _outbox_sequences(database) == []


async def _outbox_sequences(database: Database) -> list[int]:
    async with database.reads() as session:
        payloads = await session.scalars(select(OUTBOX.c.payload).order_by(OUTBOX.c.id))
        return [json.loads(payload)["sequence"] for payload in payloads]


async def test_rows_an_earlier_relay_marked_published_are_purged_and_never_sent_again(
    database: Database, topic: str, relay_settings: ServiceSettings
) -> None:
    """Relays before 2026-12-06 kept a published row, marked `published_at`, for 24 h. After an
    upgrade those rows are deleted without being sent again, and what is left is exactly the
    rows still to be sent."""
    outbox = Outbox("relay_it")
    model = event_on_topic(topic)
    await _append(database, outbox, [model(thing_id="thg_one", sequence=0)])
    async with database.transaction() as session:
        sent_before = await session.scalar(
            OUTBOX.update().values(published_at=func.now()).returning(OUTBOX.c.event_id)
        )
    await _append(database, outbox, [model(thing_id="thg_one", sequence=n) for n in (1, 2)])
    relay = _relay(database, outbox, relay_settings)
    await relay.start()
    try:
        records = await _read(relay_settings, topic, 2)
        await eventually(lambda: _is_zero(_rows_in_outbox(database)), what="the outbox emptied")
    finally:
        await relay.stop()
    # One key, one partition, in outbox order: the old row, sent again, would come first.
    assert [json.loads(record.value)["sequence"] for record in records] == [1, 2]
    assert sent_before not in {record.headers["ce_id"] for record in records}


async def test_one_relay_publishes_and_a_standby_takes_over_when_it_dies(
    database: Database, topic: str, relay_settings: ServiceSettings
) -> None:
    model = event_on_topic(topic)
    first_outbox, second_outbox = Outbox("relay_it"), Outbox("relay_it")
    first = _relay(database, first_outbox, relay_settings)
    second_database = Database.from_settings(relay_settings)
    second = _relay(second_database, second_outbox, relay_settings)
    await first.start()
    await eventually(lambda: _true(first.is_active), what="the first relay to lead")
    await second.start()
    try:
        await _append(
            database, first_outbox, [model(thing_id="thg_o", sequence=n) for n in range(3)]
        )
        await _read(relay_settings, topic, 3)
        assert first.is_active
        assert not second.is_active

        await first.stop()  # the leader dies: its connection closes, its lock goes with it
        await eventually(lambda: _true(second.is_active), what="the standby to take over")
        await _append(
            database, first_outbox, [model(thing_id="thg_o", sequence=n) for n in range(3, 6)]
        )
        records = await _read(relay_settings, topic, 6)
    finally:
        await first.stop()
        await second.stop()
        await second_database.dispose()
    assert _sequences_by_key(records) == {"thg_o": [0, 1, 2, 3, 4, 5]}


@pytest.fixture
def own_kafka(stack_profile: Profile) -> Iterator[KafkaBroker]:
    """A broker of this test's own, which it may stop without disturbing the others."""
    root = stack_profile.root / "scratch" / f"kafka-{secrets.token_hex(4)}"
    broker = KafkaBroker(
        data_dir=root / "data",
        cache_dir=stack_profile.cache,
        log_file=root / "kafka.log",
        pid_file=root / "kafka.pid",
        port=free_port(),
        controller_port=free_port(),
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_events_appended_while_kafka_is_down_are_delivered_when_it_returns(
    database: Database, own_kafka: KafkaBroker
) -> None:
    topic = unique("relayit.thing")
    own_kafka.create_topics([TopicSpec(topic, partitions=1)])
    model = event_on_topic(topic)
    outbox = Outbox("relay_it")
    relay = OutboxRelay(
        service="relay_it",
        database=database,
        outbox=outbox,
        bootstrap_servers=own_kafka.bootstrap_servers,
        settings=FAST,
    )
    await relay.start()
    try:
        own_kafka.stop()
        await _append(database, outbox, [model(thing_id="thg_k", sequence=n) for n in range(20)])
        assert await _rows_in_outbox(database) == 20  # writes succeed; the backlog waits
        # No crash loop: the relay gives up leading and probes Kafka with back-off, saying so.
        await eventually(lambda: _true(relay.outages.reason == "kafka"), 60, "a kafka pause")
        assert not relay.is_active
        assert REGISTRY.get_sample_value("flotilla_outbox_relay_paused", {"reason": "kafka"}) == 1
        own_kafka.start()
        await eventually(lambda: _is_zero(_rows_in_outbox(database)), 60, "the backlog to drain")
        records = await read_topic(own_kafka.bootstrap_servers, topic, 20)
        assert relay.outages.reason is None
        assert relay.is_active
    finally:
        await relay.stop()
    assert _sequences_by_key(records) == {"thg_k": list(range(20))}


async def _is_zero(count: Any) -> bool:
    return int(await count) == 0


async def _true(value: bool) -> bool:
    return value
