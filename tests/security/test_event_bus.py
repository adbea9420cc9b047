"""Attacks on the event bus, tried against the running stack's broker (SASL/SCRAM-SHA-512 with
KRaft's StandardAuthorizer and ACLs generated from deploy/topics.yaml), each with the refusal
it must meet:

    connect without credentials                         refused (authentication)
    connect with a wrong password                       refused (authentication)
    notifications publishes payments.payment.succeeded  refused (TopicAuthorizationFailed)
    notifications joins orders' consumer group          refused (GroupAuthorizationFailed)
    a principal forges another service's event type on  dead-lettered by every consuming group
      a topic it may write                              (type_not_owned_by_topic), never handled
    a stream of invented event types                    metrics label them `unknown`: bounded
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from aiokafka.structs import RecordMetadata
from prometheus_client.parser import text_string_to_metric_families

from contracts.payments import PaymentSucceededV1
from devstack.kafka_auth import BrokerAuth
from devstack.stack import Stack
from servicekit.events.dead_letters import DeadLetter, read_dead_letters
from servicekit.events.envelope import EventEnvelope
from servicekit.events.kafka_security import KafkaSecurity
from servicekit.ids import new_id
from servicekit.testing.consumer import envelope_of
from servicekit.testing.events import committed_offset, eventually

TIMEOUTS: dict[str, Any] = {"request_timeout_ms": 5_000}


@pytest.fixture(scope="module")
def auth(test_stack: Stack) -> BrokerAuth:
    if test_stack.kafka.auth is None:
        pytest.fail("the stack's broker runs without authentication")
    return test_stack.kafka.auth


@pytest.fixture(scope="module")
async def as_orders(test_stack: Stack, auth: BrokerAuth) -> AsyncIterator[AIOKafkaProducer]:
    """orders' own principal: it may write orders.order, so it can forge types there."""
    async with _producer(test_stack, auth.client_options("orders")) as producer:
        yield producer


def _producer(test_stack: Stack, options: dict[str, Any]) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        **TIMEOUTS,
        **options,
    )


def _forged_payment(order_id: str) -> EventEnvelope:
    event = PaymentSucceededV1(
        payment_id=new_id("pay"),
        order_id=order_id,
        user_id=new_id("usr"),
        amount_cents=1,
        currency="EUR",
        charge_id="ch_forged",
        succeeded_at=datetime.now(UTC),
    )
    return envelope_of(event, source="/payments")


async def _send(producer: AIOKafkaProducer, topic: str, envelope: EventEnvelope) -> RecordMetadata:
    return await producer.send_and_wait(
        topic, value=envelope.data, key=envelope.key, headers=envelope.kafka_headers()
    )


async def _letter(test_stack: Stack, group: str, event_id: str) -> DeadLetter:
    security = KafkaSecurity.from_environment(test_stack.kafka_admin_env())
    found: list[DeadLetter] = []

    async def arrived() -> bool:
        letters = await read_dead_letters(
            test_stack.kafka.bootstrap_servers, f"{group}.dlq", security=security
        )
        found[:] = [letter for letter in letters if letter.event_id == event_id]
        return bool(found)

    await eventually(arrived, timeout_s=60, what=f"{event_id} in {group}.dlq")
    return found[0]


async def test_a_client_without_credentials_is_refused(test_stack: Stack) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=test_stack.kafka.bootstrap_servers, **TIMEOUTS)
    try:
        with pytest.raises(KafkaError):
            await admin.start()
    finally:
        await admin.close()


async def test_a_wrong_password_is_refused(test_stack: Stack, auth: BrokerAuth) -> None:
    options = {**auth.client_options("payments"), "sasl_plain_password": "a guess"}
    producer = _producer(test_stack, options)
    try:
        with pytest.raises(KafkaError):
            await producer.start()
    finally:
        await producer.stop()


async def test_notifications_cannot_publish_a_payment(test_stack: Stack, auth: BrokerAuth) -> None:
    producer = _producer(test_stack, auth.client_options("notifications"))
    try:
        await producer.start()
        with pytest.raises(TopicAuthorizationFailedError):
            await _send(producer, "payments.payment", _forged_payment(new_id("ord")))
    finally:
        await producer.stop()


async def test_notifications_cannot_join_orders_group(test_stack: Stack, auth: BrokerAuth) -> None:
    """Joining another service's group would steal its partitions (and its events); the
    topic is one notifications may read, so the group alone is what is refused."""
    consumer = AIOKafkaConsumer(
        "orders.order",
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        group_id="orders",
        enable_auto_commit=False,
        **TIMEOUTS,
        **auth.client_options("notifications"),
    )

    async def join() -> None:
        await consumer.start()
        await consumer.getmany(timeout_ms=5_000)

    try:
        with pytest.raises(GroupAuthorizationFailedError):
            await join()
    finally:
        await consumer.stop()


async def test_a_forged_payment_on_orders_stream_is_dead_lettered_by_every_consumer(
    test_stack: Stack, as_orders: AIOKafkaProducer
) -> None:
    forged = _forged_payment(new_id("ord"))
    await _send(as_orders, "orders.order", forged)
    for group in ("catalog", "payments", "notifications"):
        letter = await _letter(test_stack, group, forged.id)
        assert letter.reason == "type_not_owned_by_topic"
        assert letter.original_topic == "orders.order"
        assert letter.header("flotilla_attempts") == "0"  # no handler ever ran


async def test_a_forged_payment_on_catalogs_stream_never_reaches_orders_handler(
    test_stack: Stack, auth: BrokerAuth
) -> None:
    """orders handles payments.payment.succeeded.v1 (it confirms the order): sent by catalog
    on the stream catalog may write, it is refused before the handler."""
    forged = _forged_payment(new_id("ord"))
    producer = _producer(test_stack, auth.client_options("catalog"))
    try:
        await producer.start()
        await _send(producer, "catalog.stock", forged)
    finally:
        await producer.stop()
    letter = await _letter(test_stack, "orders", forged.id)
    assert letter.reason == "type_not_owned_by_topic"
    assert letter.header("flotilla_error_type") == "ForeignEventType"


async def test_metric_labels_stay_bounded_under_invented_types(
    test_stack: Stack, as_orders: AIOKafkaProducer
) -> None:
    invented = [f"orders.order.x{uuid.uuid4().hex[:12]}.v1" for _ in range(25)]
    last: RecordMetadata | None = None
    for event_type in invented:
        envelope = _forged_payment(new_id("ord"))
        headers = [
            (name, event_type.encode() if name == "ce_type" else value)
            for name, value in envelope.kafka_headers()
        ]
        last = await as_orders.send_and_wait(
            "orders.order", value=envelope.data, key=envelope.key, headers=headers
        )
    assert last is not None
    security = KafkaSecurity.from_environment(test_stack.kafka_admin_env())

    async def catalog_got_past_them() -> bool:
        offset = await committed_offset(
            test_stack.kafka.bootstrap_servers,
            "catalog",
            "orders.order",
            last.partition,
            security=security,
        )
        return offset > last.offset

    await eventually(catalog_got_past_them, timeout_s=60, what="catalog to consume them")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{test_stack.service('catalog').url}/metrics")
    response.raise_for_status()
    labels = {
        sample.labels["event_type"]
        for family in text_string_to_metric_families(response.text)
        if family.name == "flotilla_events_consumed"
        for sample in family.samples
    }
    assert "unknown" in labels
    assert not labels & set(invented)
    assert all(label == "unknown" or label.count(".") == 3 for label in labels)
