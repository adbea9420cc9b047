"""payments' tests run their own consumers, in-process, against the stack's Postgres, Kafka and
psp; a psp fault set here is turned off again by the fixture that set it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from contracts.catalog import StockReservedV1
from contracts.orders import OrderCancelledV1
from contracts.topology import ConsumerGroup
from contracts.values import StockLine
from devstack.kafka import TopicSpec
from devstack.provider_keys import provider_client, psp_api_key
from devstack.stack import ADMIN_EMAIL, Stack
from payments.consumers import build_registry
from payments.domain import Payment
from payments.main import SERVICE
from payments.provider import PspProvider
from payments.repository import PaymentRepository
from payments.settings import PaymentsSettings
from servicekit import ServiceContext, new_id
from servicekit.db import Database, bootstrap_database
from servicekit.events import OUTBOX, EventEnvelope, Outbox
from servicekit.http import ResilientClient
from servicekit.testing import eventually

RETRY_DELAYS_S = (0.5, 2.0, 30.0)
"""The test group's retry tiers: short, so a retried charge is seen within a test."""

# Fast to notice an outage and its end: one HTTP attempt per handler attempt (the consumer
# retries), and a breaker that closes again quickly.
PSP_POLICY: dict[str, Any] = {
    "connect_timeout_s": 1.0,
    "read_timeout_s": 2.0,
    "deadline_s": 3.0,
    "max_attempts": 1,
    "breaker": {"minimum_calls": 20, "open_wait_s": 0.5},
}


@pytest.fixture(scope="session")
async def payments_settings(
    scratch_database: Callable[[str, str], tuple[str, str]], test_stack: Stack
) -> PaymentsSettings:
    admin_url, service_url = scratch_database("payments_it", "payments")
    settings = PaymentsSettings(
        database_url=service_url,
        jwks_url="http://127.0.0.1:9/.well-known/jwks.json",  # tests install a local verifier
        **test_stack.kafka_admin_settings(),
        downstreams={"psp": {**PSP_POLICY, "base_url": test_stack.service("psp").url}},
        psp_api_key=psp_api_key(test_stack.secrets),
        log_format="console",
        environment="test",
    )
    await bootstrap_database(settings, admin_url, "payments:migrations")
    return settings


@pytest.fixture(scope="session")
async def database(payments_settings: PaymentsSettings) -> AsyncIterator[Database]:
    database = Database.from_settings(payments_settings)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def psp(test_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The stack's psp, called directly with the stack's merchant key (as payments calls it)."""
    async with provider_client(test_stack) as client:
        yield client


@pytest.fixture(scope="session")
async def admin_headers(test_stack: Stack) -> dict[str, str]:
    """A token of the stack's admin user (identity's `ensure-admin`), for psp's knobs."""
    async with httpx.AsyncClient(base_url=test_stack.gateway.url, timeout=10) as client:
        response = await client.post(
            "/identity/v1/tokens",
            json={"email": ADMIN_EMAIL, "password": test_stack.admin_password},
        )
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


SetFaults = Callable[..., Awaitable[None]]


@pytest.fixture
async def psp_faults(
    psp: httpx.AsyncClient, admin_headers: dict[str, str]
) -> AsyncIterator[SetFaults]:
    """Sets the stack psp's fault knobs (`await psp_faults(outage=True)`; no arguments turns
    them off); they are off again after the test, whatever happens."""

    async def set_faults(**knobs: Any) -> None:
        headers = {**admin_headers, "Idempotency-Key": str(uuid.uuid4())}
        if knobs:
            response = await psp.put("/v1/admin/faults", json=knobs, headers=headers)
        else:
            response = await psp.delete("/v1/admin/faults", headers=headers)
        assert response.status_code == 200, response.text

    yield set_faults
    await set_faults()


class Pipeline:
    """payments' consumer as main.py wires it, on a group and source topic of the test's own
    (the stack's payments service keeps the `payments` group), and what it leaves behind."""

    def __init__(
        self,
        settings: PaymentsSettings,
        database: Database,
        psp: httpx.AsyncClient,
        producer: AIOKafkaProducer,
        group: str,
        source: str,
    ) -> None:
        self.settings = settings
        self.database = database
        self.group = group
        self._psp = psp
        self._producer = producer
        self._source = source

    @asynccontextmanager
    async def consuming(
        self,
        settings: PaymentsSettings | None = None,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
    ) -> AsyncIterator[None]:
        """The consumer runs inside the block (with `settings` and `retry_delays_s`, if given):
        the test's own group, declared here as the topic file declares the real one."""
        settings = settings or self.settings
        group = ConsumerGroup.declare(self.group, (self._source,), retry_delays_s)
        async with ResilientClient.from_settings("psp", settings) as client:
            context = ServiceContext(
                SERVICE.manifest, settings, self.database, Outbox("payments"), {"psp": client}
            )
            registry = build_registry(
                settings, PspProvider(client, settings.psp_api_key), retry_delays_s
            )
            consumer = SERVICE.consumer(context, registry, group=group)
            await consumer.start()
            try:
                yield
            finally:
                await consumer.stop()

    async def publish(
        self, event: StockReservedV1 | OrderCancelledV1, envelope: EventEnvelope | None = None
    ) -> EventEnvelope:
        """What catalog (a reservation) or orders (a cancellation) publishes; pass the envelope
        an earlier publish returned to redeliver it (the same event id)."""
        envelope = envelope or reserved_envelope(event)
        await self._producer.send_and_wait(
            self._source, value=envelope.data, key=envelope.key, headers=envelope.kafka_headers()
        )
        return envelope

    def consumed(self, outcome: str, event_type: str = StockReservedV1.EVENT_TYPE) -> float:
        value = REGISTRY.get_sample_value(
            "flotilla_events_consumed_total",
            {"group": self.group, "event_type": event_type, "outcome": outcome},
        )
        return value or 0.0

    async def payment(self, order_id: str) -> Payment | None:
        async with self.database.transaction() as session:
            found = await PaymentRepository(session).for_order(order_id)
        assert len(found) <= 1
        return found[0] if found else None

    async def settled(self, order_id: str) -> Payment:
        """The order's payment, once it succeeded or failed."""

        async def settled() -> bool:
            payment = await self.payment(order_id)
            return payment is not None and payment.status != "pending"

        await eventually(settled, what=f"the payment of {order_id}")
        payment = await self.payment(order_id)
        assert payment is not None
        return payment

    async def published(self, order_id: str) -> list[dict[str, Any]]:
        """The payment events in the outbox for `order_id`: key, type, headers and data."""
        async with self.database.transaction() as session:
            rows = await session.execute(
                select(OUTBOX.c.key, OUTBOX.c.event_type, OUTBOX.c.headers, OUTBOX.c.payload).where(
                    func.convert_from(OUTBOX.c.payload, "UTF8").like(f'%"{order_id}"%')
                )
            )
            return [
                {
                    "key": row.key,
                    "type": row.event_type,
                    "headers": row.headers,
                    "data": json.loads(row.payload),
                }
                for row in rows
            ]

    async def charges(self, order_id: str) -> list[dict[str, Any]]:
        """The psp's charges for the order."""
        response = await self._psp.get("/v1/charges", params={"reference": order_id})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


def reserved_envelope(event: StockReservedV1 | OrderCancelledV1) -> EventEnvelope:
    return EventEnvelope(
        id=new_id("evt"),
        type=event.EVENT_TYPE,
        source="/catalog" if isinstance(event, StockReservedV1) else "/orders",
        subject=event.order_id,
        time=datetime.now(UTC),
        data=event.model_dump_json().encode(),
    )


@pytest.fixture
async def pipeline(
    test_stack: Stack,
    payments_settings: PaymentsSettings,
    database: Database,
    psp: httpx.AsyncClient,
) -> AsyncIterator[Pipeline]:
    group = f"payit-{uuid.uuid4().hex[:10]}"
    source = f"payit.{uuid.uuid4().hex[:10]}"
    test_stack.kafka.create_topics(
        [
            TopicSpec(source, partitions=2),
            # Enough retry tiers for any test's settings.
            *(TopicSpec(f"{group}.retry.{tier}", partitions=1) for tier in range(1, 5)),
            TopicSpec(f"{group}.dlq", partitions=1),
        ]
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        acks="all",
        **test_stack.kafka.client_options(),
    )
    await producer.start()
    try:
        yield Pipeline(payments_settings, database, psp, producer, group, source)
    finally:
        await producer.stop()


@pytest.fixture
def reservation() -> Callable[..., StockReservedV1]:
    """Builds a `catalog.stock.reserved.v1` of a new order: 2 units, 25.98 EUR, a Visa card."""

    def make(**overrides: Any) -> StockReservedV1:
        fields: dict[str, Any] = {
            "order_id": new_id("ord"),
            "user_id": new_id("usr"),
            "items": [StockLine(product_id=new_id("prd"), quantity=2)],
            "total_cents": 2598,
            "currency": "EUR",
            "payment_method": "pm_card_visa",
            "reserved_at": datetime.now(UTC),
            **overrides,
        }
        return StockReservedV1(**fields)

    return make
