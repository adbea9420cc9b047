"""The outbox relay through a Postgres restart, with two instances: both wait it out (no
leader, `flotilla_outbox_relay_paused{reason="database"}`), then exactly one leads again and
publishes, the two never publish at the same time, and nothing is lost. Real Postgres (a
cluster of this test's own, which it kills) and the stack's Kafka."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry import trace
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from devstack.kafka import TopicSpec
from devstack.postgres import PostgresCluster
from devstack.stack import Stack
from servicekit.db.engine import Database
from servicekit.db.models import new_metadata
from servicekit.events.kafka_security import KafkaSecurity
from servicekit.events.outbox import Outbox
from servicekit.events.relay import OutboxRelay, RelaySettings
from servicekit.events.tables import OUTBOX, add_event_tables
from servicekit.testing.consumer import end_offset
from servicekit.testing.events import event_on_topic, eventually, read_topic, unique

SCHEMA = "relay_outage"
FAST = RelaySettings(poll_interval_s=0.1, standby_interval_s=0.2, retry_backoff_s=0.2)
ROWS = 40


def _database(cluster: PostgresCluster) -> Database:
    """One process's pool, as Database.from_settings makes it (pre-ping, short timeouts)."""
    return Database(
        create_async_engine(
            cluster.admin_dsn("flotilla", driver="postgresql+asyncpg"),
            pool_size=5,
            pool_pre_ping=True,
            pool_timeout=2.0,
            connect_args={"timeout": 2.0, "server_settings": {"search_path": SCHEMA}},
        )
    )


@pytest.fixture
async def databases(own_postgres: PostgresCluster) -> AsyncIterator[tuple[Database, ...]]:
    """Three pools on the same database: a writer's and each relay's."""
    own_postgres.ensure_database("flotilla")
    writer = _database(own_postgres)
    metadata = new_metadata()
    add_event_tables(metadata)
    async with writer.engine.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        await connection.run_sync(metadata.create_all)
    pools = (writer, _database(own_postgres), _database(own_postgres))
    yield pools
    for pool in pools:
        await pool.engine.dispose()


class _WatchedRelay(OutboxRelay):
    """Notes the moment of each record it hands to its producer, under its name."""

    def __init__(self, name: str, sends: list[tuple[float, str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name
        self._sends = sends

    def _producer_span(
        self, topic: str, key: str, stored: dict[str, Any]
    ) -> tuple[trace.Span, list[tuple[str, bytes]]]:
        self._sends.append((time.monotonic(), self.name))
        return super()._producer_span(topic, key, stored)


async def _append(database: Database, outbox: Outbox, events: list[Any]) -> None:
    async with database.transaction() as session:
        for event in events:
            await outbox.append(session, event)


async def _unpublished(database: Database) -> int:
    async with database.transaction() as session:
        count = await session.scalar(
            select(func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
        )
    return int(count or 0)


def _paused(reason: str) -> float:
    return REGISTRY.get_sample_value("flotilla_outbox_relay_paused", {"reason": reason}) or 0.0


def _leader_changes(sends: list[tuple[float, str]]) -> int:
    names = [name for _, name in sorted(sends)]
    return sum(1 for before, after in itertools.pairwise(names) if before != after)


async def test_after_postgres_restarts_exactly_one_relay_leads_and_nothing_is_lost(
    databases: tuple[Database, Database, Database],
    own_postgres: PostgresCluster,
    test_stack: Stack,
    kafka_security: KafkaSecurity,
) -> None:
    writer, first_pool, second_pool = databases
    servers = test_stack.kafka.bootstrap_servers
    topic = unique("relayout.thing")
    test_stack.kafka.create_topics([TopicSpec(topic, partitions=1)])
    model = event_on_topic(topic)
    outbox = Outbox("relay_outage")
    sends: list[tuple[float, str]] = []
    relays = [
        _WatchedRelay(
            name,
            sends,
            service="relay_outage",
            database=pool,
            outbox=Outbox("relay_outage"),
            bootstrap_servers=servers,
            settings=FAST,
            security=kafka_security,
        )
        for name, pool in (("first", first_pool), ("second", second_pool))
    ]
    for relay in relays:
        await relay.start()
    try:
        await _append(writer, outbox, [model(thing_id="thg_r", sequence=n) for n in range(ROWS)])
        await eventually(lambda: _drained(writer), what="the first rows published")
        [leader] = [relay for relay in relays if relay.is_active]

        await asyncio.to_thread(own_postgres.kill)  # every session, and the lock with it, gone
        await eventually(
            lambda: all(relay.outages.reason == "database" for relay in relays),
            what="both relays waiting for the database",
        )
        assert not any(relay.is_active for relay in relays)
        assert _paused("database") == 1
        await asyncio.to_thread(own_postgres.start)

        await _append(
            writer, outbox, [model(thing_id="thg_r", sequence=n) for n in range(ROWS, 2 * ROWS)]
        )
        await eventually(lambda: _drained(writer), timeout_s=60, what="the rest published")
        active = [relay for relay in relays if relay.is_active]
        assert len(active) == 1, "exactly one relay leads after the restart"
        assert _paused("database") == 0
        count = await end_offset(servers, topic, kafka_security)
        records = await read_topic(servers, topic, count, security=kafka_security)
    finally:
        for relay in relays:
            await relay.stop()
    assert leader.name in {name for _, name in sends}
    assert _leader_changes(sends) <= 1, "two relays published at the same time"
    ids = [record.headers["ce_id"] for record in records]
    assert len(set(ids)) == 2 * ROWS  # nothing lost; any duplicate is a re-send consumers dedupe
    first_seen: list[int] = []
    for record in records:
        sequence = json.loads(record.value)["sequence"]
        if sequence not in first_seen:
            first_seen.append(sequence)
    assert first_seen == list(range(2 * ROWS))


async def _drained(database: Database) -> bool:
    return await _unpublished(database) == 0
