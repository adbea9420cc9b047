"""From Kafka to the mailbox: notifications' registry under the real event consumer.

Each test has a consumer group and topics of its own (the service's own group must stay free
for the stack's notifications service), with the test stack's Kafka and Postgres and the SMTP
sink in-process.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import select

from contracts.identity import UserRegisteredV1
from contracts.topology import ConsumerGroup
from devstack.kafka import TopicSpec
from devstack.smtp_sink import SmtpSink, read_messages
from devstack.stack import Stack
from notifications.consumers import build_registry
from notifications.handlers import Emails
from notifications.mailer import SmtpMailer, smtp_breaker
from notifications.tables import notifications
from servicekit import BreakerPolicy, new_id
from servicekit.db import Database
from servicekit.events import EventConsumer, EventEnvelope, KafkaSecurity, Outbox
from servicekit.testing import eventually

MailerFactory = Callable[..., SmtpMailer]


@dataclass(frozen=True)
class Topics:
    group: str
    source: str
    servers: str
    security: KafkaSecurity


@pytest.fixture
def topics(test_stack: Stack) -> Topics:
    group = f"ntfit-{uuid.uuid4().hex[:10]}"
    source = f"ntfit.{uuid.uuid4().hex[:10]}"
    test_stack.kafka.create_topics(
        [
            TopicSpec(source, partitions=1),
            TopicSpec(f"{group}.retry.1", partitions=1),
            TopicSpec(f"{group}.retry.2", partitions=1),
            TopicSpec(f"{group}.dlq", partitions=1),
        ]
    )
    return Topics(
        group,
        source,
        test_stack.kafka.bootstrap_servers,
        KafkaSecurity.from_environment(test_stack.kafka_admin_env()),
    )


@pytest.fixture
async def producer(topics: Topics) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=topics.servers, acks="all", **topics.security.client_options()
    )
    await producer.start()
    yield producer
    await producer.stop()


def _consumer(topics: Topics, database: Database, mailer: SmtpMailer) -> EventConsumer:
    return EventConsumer.for_group(
        ConsumerGroup.declare(topics.group, (topics.source,), (0.5, 1.0)),
        build_registry(Emails(database, mailer, "flotilla.local")),
        database=database,
        outbox=Outbox("notifications"),
        bootstrap_servers=topics.servers,
        security=topics.security,
        in_place_attempts=2,
        in_place_backoff_s=0.01,
        shutdown_timeout_s=1.0,
        consumer_options={"heartbeat_interval_ms": 300, "session_timeout_ms": 10_000},
    )


def _registration() -> EventEnvelope:
    event = UserRegisteredV1(
        user_id=new_id("usr"),
        email=f"user-{uuid.uuid4().hex[:10]}@example.com",
        name="Ann Lee",
        registered_at=datetime.now(UTC),
    )
    return EventEnvelope(
        id=new_id("evt"),
        type=event.EVENT_TYPE,
        source="/identity",
        subject=event.user_id,
        time=datetime.now(UTC),
        data=event.model_dump_json().encode(),
    )


async def _publish(producer: AIOKafkaProducer, topic: str, envelope: EventEnvelope) -> None:
    await producer.send_and_wait(
        topic, value=envelope.data, key=envelope.key, headers=envelope.kafka_headers()
    )


def _consumed(group: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "flotilla_events_consumed_total",
        {"group": group, "event_type": UserRegisteredV1.EVENT_TYPE, "outcome": outcome},
    )
    return value or 0.0


async def _sent_rows(database: Database, envelope: EventEnvelope) -> int:
    async with database.transaction() as session:
        rows = await session.execute(
            select(notifications.c.id).where(
                notifications.c.cause_event_id == envelope.id, notifications.c.status == "sent"
            )
        )
        return len(rows.all())


async def test_a_registration_published_twice_is_one_welcome_email(
    topics: Topics,
    producer: AIOKafkaProducer,
    database: Database,
    smtp_sink: SmtpSink,
    make_mailer: MailerFactory,
) -> None:
    envelope = _registration()
    await _publish(producer, topics.source, envelope)
    await _publish(producer, topics.source, envelope)  # a redelivery: same event id
    consumer = _consumer(topics, database, make_mailer(smtp_sink.port))
    await consumer.start()
    try:

        async def both_handled() -> bool:
            return _consumed(topics.group, "processed") + _consumed(topics.group, "duplicate") >= 2

        await eventually(both_handled, what="both records handled")
    finally:
        await consumer.stop()
    assert _consumed(topics.group, "processed") == 1
    assert len(read_messages(smtp_sink.folder)) == 1
    assert await _sent_rows(database, envelope) == 1


async def test_while_smtp_is_down_the_event_waits_in_the_retry_topics(
    topics: Topics,
    producer: AIOKafkaProducer,
    database: Database,
    unused_port: int,
    make_mailer: MailerFactory,
    tmp_path: Path,
) -> None:
    envelope = _registration()
    breaker = smtp_breaker(BreakerPolicy(minimum_calls=2, open_wait_s=0.2))
    consumer = _consumer(topics, database, make_mailer(unused_port, breaker))
    await _publish(producer, topics.source, envelope)
    await consumer.start()
    sink = SmtpSink(tmp_path / "mail", unused_port)

    async def retried() -> bool:
        return _consumed(topics.group, "retried") >= 1

    async def delivered() -> bool:
        return len(sink.messages()) == 1

    try:
        await eventually(retried, what="a retry")
        assert await _sent_rows(database, envelope) == 0
        with sink:
            await eventually(delivered, what="the welcome, after the outage")
    finally:
        await consumer.stop()
    assert await _sent_rows(database, envelope) == 1
    assert _consumed(topics.group, "dead_lettered") == 0
