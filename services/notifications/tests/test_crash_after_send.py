"""At most one email per event, even when the process dies between the SMTP server's "250
accepted" and the consumer's commit: a real consumer process (crash_after_send.py) killed by
os._exit at that point, then the same group consuming again in this process.

The test stack's Kafka and Postgres, the devstack SMTP sink in-process, a group and topics of
each test's own.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import select

from contracts.identity import UserRegisteredV1
from contracts.notifications import NotificationSentV1
from contracts.topology import ConsumerGroup
from devstack.kafka import TopicSpec
from devstack.smtp_sink import SmtpSink
from devstack.stack import Stack
from notifications.consumers import build_registry
from notifications.handlers import Emails
from notifications.mailer import SmtpMailer
from notifications.settings import NotificationsSettings
from notifications.tables import notifications
from servicekit.db.engine import Database
from servicekit.events.consumer import EventConsumer
from servicekit.events.envelope import EventEnvelope
from servicekit.events.kafka_security import KafkaSecurity
from servicekit.events.outbox import Outbox
from servicekit.events.tables import OUTBOX
from servicekit.ids import new_id
from servicekit.testing.events import eventually

MailerFactory = Callable[..., SmtpMailer]
CRASHING_CONSUMER = Path(__file__).with_name("crash_after_send.py")
CRASH_EXIT_CODE = 86  # crash_after_send.CRASH_EXIT_CODE


@pytest.fixture
def group_and_topic(test_stack: Stack) -> tuple[str, str]:
    group = f"ntfcrash-{uuid.uuid4().hex[:10]}"
    source = f"ntfcrash.{uuid.uuid4().hex[:10]}"
    test_stack.kafka.create_topics(
        [TopicSpec(source, partitions=1)]
        + [TopicSpec(f"{group}.{suffix}", partitions=1) for suffix in ("retry.1", "retry.2", "dlq")]
    )
    return group, source


@pytest.fixture
async def registration(test_stack: Stack, group_and_topic: tuple[str, str]) -> EventEnvelope:
    """A user.registered event, published once."""
    event = UserRegisteredV1(
        user_id=new_id("usr"),
        email=f"user-{uuid.uuid4().hex[:10]}@example.com",
        name="Ann Lee",
        registered_at=datetime.now(UTC),
    )
    envelope = EventEnvelope(
        id=new_id("evt"),
        type=event.EVENT_TYPE,
        source="/identity",
        subject=event.user_id,
        time=datetime.now(UTC),
        data=event.model_dump_json().encode(),
    )
    security = KafkaSecurity.from_environment(test_stack.kafka_admin_env())
    producer = AIOKafkaProducer(
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        acks="all",
        **security.client_options(),
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            group_and_topic[1],
            value=envelope.data,
            key=envelope.key,
            headers=envelope.kafka_headers(),
        )
    finally:
        await producer.stop()
    return envelope


async def _crash_a_consumer(
    test_stack: Stack,
    settings: NotificationsSettings,
    sink: SmtpSink,
    group_and_topic: tuple[str, str],
    *,
    before_send: bool,
) -> None:
    group, source = group_and_topic
    env = {
        **os.environ,
        **test_stack.kafka_admin_env(),
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "JWKS_URL": settings.jwks_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sink.port),
        "ENVIRONMENT": "test",
        "LOG_FORMAT": "console",
        "CONSUMER_GROUP": group,
        "SOURCE_TOPIC": source,
        "CRASH_BEFORE_SEND": "1" if before_send else "0",
    }
    child = await asyncio.create_subprocess_exec(sys.executable, str(CRASHING_CONSUMER), env=env)
    try:
        returncode = await asyncio.wait_for(child.wait(), timeout=60)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert returncode == CRASH_EXIT_CODE, "the consumer did not reach the crash point"


async def _consume_again(
    database: Database,
    mailer: SmtpMailer,
    test_stack: Stack,
    group_and_topic: tuple[str, str],
) -> None:
    """The same group again, with a mailer that works, until the event has an outcome."""
    group, source = group_and_topic
    consumer = EventConsumer.for_group(
        ConsumerGroup.declare(group, (source,), (0.5, 1.0)),
        build_registry(Emails(database, mailer, "flotilla.local")),
        database=database,
        outbox=Outbox("notifications"),
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        security=KafkaSecurity.from_environment(test_stack.kafka_admin_env()),
        max_batch_size=1,
        shutdown_timeout_s=1.0,
        consumer_options={"heartbeat_interval_ms": 300, "session_timeout_ms": 10_000},
    )

    def handled() -> bool:
        value = REGISTRY.get_sample_value(
            "flotilla_events_consumed_total",
            {"group": group, "event_type": UserRegisteredV1.EVENT_TYPE, "outcome": "processed"},
        )
        return bool(value)

    await consumer.start()
    try:
        # The dead member holds the partition until its session times out (10 s).
        await eventually(handled, timeout_s=60, what="the event handled again")
    finally:
        await consumer.stop()


async def _row(database: Database, envelope: EventEnvelope) -> dict[str, object]:
    async with database.transaction() as session:
        [row] = (
            await session.execute(
                select(notifications).where(notifications.c.cause_event_id == envelope.id)
            )
        ).all()
        sent = (
            await session.execute(
                select(OUTBOX.c.id).where(
                    OUTBOX.c.event_type == NotificationSentV1.EVENT_TYPE, OUTBOX.c.key == row.id
                )
            )
        ).all()
        return {**row._mapping, "sent_events": len(sent)}


async def test_a_crash_between_the_send_and_the_commit_sends_no_second_email(
    test_stack: Stack,
    notifications_settings: NotificationsSettings,
    database: Database,
    smtp_sink: SmtpSink,
    make_mailer: MailerFactory,
    group_and_topic: tuple[str, str],
    registration: EventEnvelope,
) -> None:
    await _crash_a_consumer(
        test_stack, notifications_settings, smtp_sink, group_and_topic, before_send=False
    )
    [message] = smtp_sink.messages()  # the server accepted it; the consumer never committed
    assert (await _row(database, registration))["status"] == "sending"

    await _consume_again(database, make_mailer(smtp_sink.port), test_stack, group_and_topic)

    row = await _row(database, registration)
    assert [m["Message-ID"] for m in smtp_sink.messages()] == [message["Message-ID"]]
    assert message["Message-ID"] == f"<{row['id']}@flotilla.local>"
    assert (row["status"], row["sent_events"]) == ("unconfirmed", 0)


async def test_a_crash_after_the_claim_and_before_the_send_loses_that_email(
    test_stack: Stack,
    notifications_settings: NotificationsSettings,
    database: Database,
    smtp_sink: SmtpSink,
    make_mailer: MailerFactory,
    group_and_topic: tuple[str, str],
    registration: EventEnvelope,
) -> None:
    """The price of at most once: the claim cannot tell this crash from the one above."""
    await _crash_a_consumer(
        test_stack, notifications_settings, smtp_sink, group_and_topic, before_send=True
    )
    await _consume_again(database, make_mailer(smtp_sink.port), test_stack, group_and_topic)

    assert smtp_sink.messages() == []
    row = await _row(database, registration)
    assert (row["status"], row["sent_events"]) == ("unconfirmed", 0)
