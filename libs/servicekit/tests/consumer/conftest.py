"""The event consumer's tests run against the test stack's real Kafka and Postgres.

Every test has its own consumer group and topics (source, `<group>.retry.<n>`, `<group>.dlq`),
and waits on conditions with a deadline — never on a sleep — for what the consumer does. The
steps a test takes are in `servicekit.testing.consumer`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from devstack.kafka import TopicSpec
from devstack.stack import Stack
from servicekit.db.bootstrap import RoleSpec, ensure_role_and_schema
from servicekit.db.engine import Database
from servicekit.events.kafka_security import KafkaSecurity
from servicekit.testing.consumer import METADATA, SCHEMA, MiB, Topics


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
        await connection.run_sync(METADATA.create_all)
    yield Database(engine)
    await engine.dispose()


@pytest.fixture(scope="module")
async def producer(
    test_stack: Stack, kafka_options: dict[str, Any]
) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        **kafka_options,
        acks="all",
        enable_idempotence=True,
        max_request_size=4 * MiB,
    )
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
def make_topics(test_stack: Stack, kafka_security: KafkaSecurity) -> Callable[..., Topics]:
    """`make_topics(source_partitions=1, tiers=2, big=False)`: a test's topics, created; `big`
    lets the source take records of up to 3 MiB (more than the DLQ takes)."""

    def make(source_partitions: int = 1, tiers: int = 2, big: bool = False) -> Topics:
        topics = Topics(test_stack.kafka.bootstrap_servers, tiers, kafka_security)
        source_config = {"max.message.bytes": str(3 * MiB)} if big else {}
        test_stack.kafka.create_topics(
            [
                TopicSpec(topics.source, partitions=source_partitions, config=source_config),
                *(TopicSpec(name, partitions=1) for name in topics.retry),
                TopicSpec(topics.dlq, partitions=1),
            ]
        )
        return topics

    return make


@pytest.fixture(autouse=True)
def _tools_authenticate(monkeypatch: pytest.MonkeyPatch, kafka_env: dict[str, str]) -> None:
    """The DLQ tool, run in-process, reads its Kafka credentials from the environment."""
    for name, value in kafka_env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def topics(make_topics: Callable[..., Topics]) -> Topics:
    return make_topics()
