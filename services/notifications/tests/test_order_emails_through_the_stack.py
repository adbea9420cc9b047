"""Through the running stack: an order outcome published on `orders.order` reaches the
notifications service's consumer and lands in the SMTP sink as one email."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from contracts.orders import OrderCancelledV1
from devstack.smtp_sink import read_messages
from devstack.stack import Stack
from servicekit import new_id
from servicekit.events import EventEnvelope, KafkaSecurity
from servicekit.testing import committed_offset, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
async def producer(test_stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        acks="all",
        **test_stack.kafka.client_options(),
    )
    await producer.start()
    yield producer
    await producer.stop()


async def test_a_cancelled_order_published_twice_is_one_email_with_the_reason(
    test_stack: Stack, producer: AIOKafkaProducer
) -> None:
    event = OrderCancelledV1(
        order_id=new_id("ord"),
        user_id=new_id("usr"),
        email=f"buyer-{uuid.uuid4().hex[:10]}@example.com",
        reason="timeout",
        total_cents=990,
        currency="EUR",
        cancelled_at=datetime.now(UTC),
    )
    envelope = EventEnvelope(
        id=new_id("evt"),
        type=event.EVENT_TYPE,
        source="/orders",
        subject=event.order_id,
        time=datetime.now(UTC),
        data=event.model_dump_json().encode(),
    )
    for _ in range(2):  # a redelivery: the same event id
        last = await producer.send_and_wait(
            "orders.order", value=envelope.data, key=envelope.key, headers=envelope.kafka_headers()
        )

    async def both_handled() -> bool:
        servers = test_stack.kafka.bootstrap_servers
        offset = await committed_offset(
            servers,
            "notifications",
            "orders.order",
            last.partition,
            security=KafkaSecurity.from_environment(test_stack.kafka_admin_env()),
        )
        return bool(offset > last.offset)

    def mails() -> list[str]:
        return [
            m.get_content()
            for m in read_messages(test_stack.profile.mail)
            if m["To"] == event.email
        ]

    async def arrived() -> bool:
        return len(mails()) >= 1

    await eventually(arrived, timeout_s=20, what="the cancellation email")
    await eventually(both_handled, timeout_s=20, what="the redelivery handled")
    [body] = mails()
    assert f"your order {event.order_id} (9.90 EUR)\nwas cancelled" in body
    assert "because it could not be completed in time." in body
