"""The saga's events move orders: catalog's and payments' agreed events, published to Kafka,
consumed by orders' registry under the real event consumer, and the order read through the API.

The module has a consumer group and source topics of its own (the stack's `orders` group and
its topics stay free for the stack's services, whose payments would otherwise charge for these
test reservations); the events on them are exactly the agreed `catalog.stock.*` and
`payments.payment.*` types.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from contracts.base import Event
from contracts.catalog import StockRejectedV1, StockReservedV1
from contracts.payments import PaymentFailedV1, PaymentSucceededV1
from contracts.topology import ConsumerGroup
from contracts.values import StockLine, StockShortfall
from devstack.kafka import TopicSpec
from devstack.stack import Stack
from orders.consumers import build_registry
from orders.domain import Order
from orders.sweeper import OverdueSweeper
from servicekit import new_id
from servicekit.db import Database
from servicekit.events import EventConsumer, EventEnvelope, KafkaSecurity, Outbox
from servicekit.testing import eventually

PlaceOrder = Callable[..., Awaitable[Order]]
OutboxEvents = Callable[[str], Awaitable[list[dict[str, Any]]]]
Auth = Callable[..., dict[str, str]]


@dataclass(frozen=True)
class Topics:
    group: str
    stock: str
    payment: str


@pytest.fixture(scope="module")
def topics(test_stack: Stack) -> Topics:
    suffix = uuid.uuid4().hex[:10]
    topics = Topics(f"ordit-{suffix}", f"ordit.stock.{suffix}", f"ordit.payment.{suffix}")
    test_stack.kafka.create_topics(
        [
            TopicSpec(topics.stock, partitions=2),
            TopicSpec(topics.payment, partitions=2),
            TopicSpec(f"{topics.group}.retry.1", partitions=1),
            TopicSpec(f"{topics.group}.retry.2", partitions=1),
            TopicSpec(f"{topics.group}.dlq", partitions=1),
        ]
    )
    return topics


@pytest.fixture(scope="module")
async def consumer(
    topics: Topics, database: Database, test_stack: Stack
) -> AsyncIterator[EventConsumer]:
    consumer = EventConsumer.for_group(
        ConsumerGroup.declare(topics.group, (topics.stock, topics.payment), (0.5, 1.0)),
        build_registry(),
        database=database,
        outbox=Outbox("orders"),
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        security=KafkaSecurity.from_environment(test_stack.kafka_admin_env()),
        in_place_backoff_s=0.01,
        shutdown_timeout_s=1.0,
        consumer_options={"heartbeat_interval_ms": 300, "session_timeout_ms": 10_000},
    )
    await consumer.start()
    yield consumer
    await consumer.stop()


@pytest.fixture(scope="module")
async def producer(test_stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        acks="all",
        **test_stack.kafka.client_options(),
    )
    await producer.start()
    yield producer
    await producer.stop()


@dataclass
class Saga:
    """Publishes the agreed events about one order, as catalog and payments would."""

    producer: AIOKafkaProducer
    topics: Topics
    order: Order

    async def publish(self, event: Event, event_id: str | None = None) -> EventEnvelope:
        topic = self.topics.stock if event.producer() == "catalog" else self.topics.payment
        envelope = EventEnvelope(
            id=event_id or new_id("evt"),
            type=event.EVENT_TYPE,
            source=f"/{event.producer()}",
            subject=event.subject(),
            time=datetime.now(UTC),
            data=event.model_dump_json().encode(),
        )
        await self.producer.send_and_wait(
            topic, value=envelope.data, key=envelope.key, headers=envelope.kafka_headers()
        )
        return envelope

    def reserved(self) -> StockReservedV1:
        return StockReservedV1(
            order_id=self.order.id,
            user_id=self.order.user_id,
            items=[
                StockLine(product_id=line.product_id, quantity=line.quantity)
                for line in self.order.lines
            ],
            total_cents=self.order.total_cents,
            currency=self.order.currency,
            payment_method=self.order.payment_method,
            reserved_at=datetime.now(UTC),
        )

    def rejected(self) -> StockRejectedV1:
        line = self.order.lines[0]
        return StockRejectedV1(
            order_id=self.order.id,
            user_id=self.order.user_id,
            shortfalls=[
                StockShortfall(
                    product_id=line.product_id,
                    reason="out_of_stock",
                    requested=line.quantity,
                    available=1,
                )
            ],
            rejected_at=datetime.now(UTC),
        )

    def succeeded(self) -> PaymentSucceededV1:
        return PaymentSucceededV1(
            payment_id=new_id("pay"),
            order_id=self.order.id,
            user_id=self.order.user_id,
            amount_cents=self.order.total_cents,
            currency=self.order.currency,
            charge_id=new_id("ch"),
            succeeded_at=datetime.now(UTC),
        )

    def failed(self, reason: str) -> PaymentFailedV1:
        return PaymentFailedV1(
            payment_id=new_id("pay"),
            order_id=self.order.id,
            user_id=self.order.user_id,
            amount_cents=self.order.total_cents,
            currency=self.order.currency,
            reason=reason,
            failed_at=datetime.now(UTC),
        )


@pytest.fixture
async def saga(
    place: PlaceOrder, producer: AIOKafkaProducer, topics: Topics, consumer: EventConsumer
) -> Saga:
    return Saga(producer, topics, await place())


class Reader:
    def __init__(self, api: httpx.AsyncClient, auth: Auth) -> None:
        self._api = api
        self._auth = auth

    async def order(self, order: Order) -> dict[str, Any]:
        response = await self._api.get(f"/v1/orders/{order.id}", headers=self._auth(order.user_id))
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def until(self, order: Order, status: str) -> dict[str, Any]:
        """The order once it has `status`."""
        seen: dict[str, Any] = {}

        async def reached() -> bool:
            seen.update(await self.order(order))
            return bool(seen["status"] == status)

        await eventually(reached, timeout_s=20, what=f"{order.id} to become {status}")
        return seen


@pytest.fixture
def read(api: httpx.AsyncClient, auth: Auth) -> Reader:
    return Reader(api, auth)


def _ignored(event_type: str, state: str) -> float:
    value = REGISTRY.get_sample_value(
        "flotilla_orders_ignored_events_total", {"event_type": event_type, "state": state}
    )
    return value or 0.0


def _late_payments() -> float:
    return REGISTRY.get_sample_value("flotilla_orders_late_payments_total") or 0.0


def _outcomes(outcome: str) -> float:
    return REGISTRY.get_sample_value("flotilla_orders_total", {"outcome": outcome}) or 0.0


async def _counted(what: str, counter: Callable[[], float], target: float) -> None:
    async def reached() -> bool:
        return counter() >= target

    await eventually(reached, timeout_s=20, what=what)


def _history(order: dict[str, Any]) -> list[tuple[str, str]]:
    return [(entry["status"], entry["cause"]) for entry in order["history"]]


async def test_a_reservation_awaits_payment_and_a_payment_confirms(
    saga: Saga, read: Reader, outbox_events: OutboxEvents
) -> None:
    confirmed_before = _outcomes("confirmed")
    await saga.publish(saga.reserved())
    awaiting = await read.until(saga.order, "awaiting_payment")
    assert awaiting["reason"] is None

    await saga.publish(saga.succeeded())
    confirmed = await read.until(saga.order, "confirmed")
    assert _history(confirmed) == [
        ("pending", "placed"),
        ("awaiting_payment", "catalog.stock.reserved.v1"),
        ("confirmed", "payments.payment.succeeded.v1"),
    ]
    events = await outbox_events(saga.order.id)
    assert [event["type"] for event in events] == [
        "orders.order.placed.v1",
        "orders.order.confirmed.v1",
    ]
    assert events[1]["total_cents"] == saga.order.total_cents
    assert events[1]["email"] == saga.order.email
    assert _outcomes("confirmed") == confirmed_before + 1


async def test_a_stock_rejection_rejects_the_order(
    saga: Saga, read: Reader, outbox_events: OutboxEvents
) -> None:
    await saga.publish(saga.rejected())
    rejected = await read.until(saga.order, "rejected")
    assert rejected["reason"] == "out_of_stock"
    assert _history(rejected)[-1] == ("rejected", "catalog.stock.rejected.v1")
    events = await outbox_events(saga.order.id)
    assert events[-1]["type"] == "orders.order.rejected.v1"
    assert events[-1]["shortfalls"] == [
        {
            "product_id": saga.order.lines[0].product_id,
            "reason": "out_of_stock",
            "requested": 2,
            "available": 1,
        }
    ]


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("declined", "payment_declined"),
        ("insufficient_funds", "insufficient_funds"),
        ("provider_unavailable", "payment_failed"),
    ],
)
async def test_a_failed_payment_cancels_the_order_and_releases_its_stock(
    saga: Saga, read: Reader, outbox_events: OutboxEvents, failure: str, reason: str
) -> None:
    await saga.publish(saga.reserved())
    await read.until(saga.order, "awaiting_payment")
    await saga.publish(saga.failed(failure))
    cancelled = await read.until(saga.order, "cancelled")
    assert cancelled["reason"] == reason
    [*_, event] = await outbox_events(saga.order.id)
    # orders.order.cancelled.v1 is what makes catalog release the reservation.
    assert (event["type"], event["reason"]) == ("orders.order.cancelled.v1", reason)


async def test_a_redelivered_event_has_one_effect(saga: Saga, read: Reader) -> None:
    envelope = await saga.publish(saga.reserved())
    await saga.publish(saga.reserved(), event_id=envelope.id)  # the same event, again
    await saga.publish(saga.succeeded())
    confirmed = await read.until(saga.order, "confirmed")
    assert [status for status, _ in _history(confirmed)] == [
        "pending",
        "awaiting_payment",
        "confirmed",
    ]


async def test_a_second_reservation_changes_nothing(saga: Saga, read: Reader) -> None:
    event_type = StockReservedV1.EVENT_TYPE
    ignored = _ignored(event_type, "awaiting_payment")
    await saga.publish(saga.reserved())
    await saga.publish(saga.reserved())  # the same fact, another event id
    await _counted(
        "the second reservation ignored",
        lambda: _ignored(event_type, "awaiting_payment"),
        ignored + 1,
    )
    order = await read.order(saga.order)
    assert order["status"] == "awaiting_payment"
    assert len(order["history"]) == 2


async def test_a_rejection_after_the_reservation_changes_nothing(
    saga: Saga, read: Reader, outbox_events: OutboxEvents
) -> None:
    event_type = StockRejectedV1.EVENT_TYPE
    ignored = _ignored(event_type, "awaiting_payment")
    await saga.publish(saga.reserved())
    await saga.publish(saga.rejected())  # same order key: consumed after the reservation
    await _counted(
        "the rejection ignored", lambda: _ignored(event_type, "awaiting_payment"), ignored + 1
    )
    order = await read.order(saga.order)
    assert (order["status"], order["reason"]) == ("awaiting_payment", None)
    assert [event["type"] for event in await outbox_events(saga.order.id)] == [
        "orders.order.placed.v1"
    ]


async def test_a_payment_heard_of_before_its_reservation_confirms_once(
    saga: Saga, read: Reader
) -> None:
    # Different topics, so payments' outcome may overtake catalog's reservation.
    await saga.publish(saga.succeeded())
    confirmed = await read.until(saga.order, "confirmed")
    assert _history(confirmed) == [
        ("pending", "placed"),
        ("awaiting_payment", "payments.payment.succeeded.v1 (implied reservation)"),
        ("confirmed", "payments.payment.succeeded.v1"),
    ]
    event_type = StockReservedV1.EVENT_TYPE
    ignored = _ignored(event_type, "confirmed")
    await saga.publish(saga.reserved())
    await _counted(
        "the late reservation ignored", lambda: _ignored(event_type, "confirmed"), ignored + 1
    )
    assert _history(await read.order(saga.order)) == _history(confirmed)


async def test_an_event_for_an_unknown_order_is_ignored(saga: Saga) -> None:
    event_type = PaymentSucceededV1.EVENT_TYPE
    ignored = _ignored(event_type, "unknown")
    stranger = Saga(saga.producer, saga.topics, replace(saga.order, id=new_id("ord")))
    await stranger.publish(stranger.succeeded())
    await _counted(
        "the stranger's payment ignored", lambda: _ignored(event_type, "unknown"), ignored + 1
    )


async def test_a_payment_for_an_order_the_deadline_cancelled_is_a_late_payment(
    place: PlaceOrder,
    producer: AIOKafkaProducer,
    topics: Topics,
    consumer: EventConsumer,
    database: Database,
    read: Reader,
) -> None:
    saga = Saga(producer, topics, await place(deadline_s=0.001))
    await saga.publish(saga.reserved())
    await read.until(saga.order, "awaiting_payment")
    await OverdueSweeper(database, Outbox("orders"), interval_s=1, batch_size=100).sweep()
    cancelled = await read.until(saga.order, "cancelled")

    late = _late_payments()
    await saga.publish(saga.succeeded())
    await _counted("the late payment", _late_payments, late + 1)
    order = await read.order(saga.order)
    assert (order["status"], order["reason"]) == ("cancelled", "timeout")
    assert order["history"] == cancelled["history"]
