"""The running stack's payments service: a reservation on `catalog.stock` is charged at the
stack's psp, and its owner (or an admin) reads the payment through the gateway."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.catalog import StockReservedV1
from contracts.values import StockLine
from devstack.provider_keys import provider_client
from devstack.stack import Stack
from servicekit import new_id
from servicekit.events import EventEnvelope
from servicekit.testing import eventually

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def gateway(test_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=test_stack.gateway.url, timeout=10) as client:
        yield client


async def _signed_up(gateway: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    """A new user's id and bearer header."""
    email = f"payer-{uuid.uuid4().hex[:12]}@example.com"
    created = await gateway.post(
        "/identity/v1/users",
        json={"email": email, "password": PASSWORD, "name": "Pat"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201, created.text
    token = await gateway.post(
        "/identity/v1/tokens",
        json={"email": email, "password": PASSWORD},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert token.status_code == 200, token.text
    return created.json()["id"], {"authorization": f"Bearer {token.json()['access_token']}"}


async def _reserve(test_stack: Stack, event: StockReservedV1) -> None:
    """What catalog publishes once an order's stock is reserved."""
    envelope = EventEnvelope(
        id=new_id("evt"),
        type=event.EVENT_TYPE,
        source="/catalog",
        subject=event.order_id,
        time=datetime.now(UTC),
        data=event.model_dump_json().encode(),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        acks="all",
        **test_stack.kafka.client_options(),
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            event.TOPIC, value=envelope.data, key=envelope.key, headers=envelope.kafka_headers()
        )
    finally:
        await producer.stop()


async def test_a_reservation_is_paid_and_the_owner_reads_the_payment(
    test_stack: Stack, gateway: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    user_id, owner = await _signed_up(gateway)
    _, stranger = await _signed_up(gateway)
    order_id = new_id("ord")
    await _reserve(
        test_stack,
        StockReservedV1(
            order_id=order_id,
            user_id=user_id,
            items=[StockLine(product_id=new_id("prd"), quantity=1)],
            total_cents=4500,
            currency="EUR",
            payment_method="pm_card_visa",
            reserved_at=datetime.now(UTC),
        ),
    )

    async def payments_of(headers: dict[str, str]) -> list[dict[str, Any]]:
        response = await gateway.get(
            "/payments/v1/payments", params={"order_id": order_id}, headers=headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def paid() -> bool:
        return [p["status"] for p in await payments_of(owner)] == ["succeeded"]

    await eventually(paid, what="the order's payment")
    [payment] = await payments_of(owner)
    assert (payment["user_id"], payment["amount_cents"], payment["currency"]) == (
        user_id,
        4500,
        "EUR",
    )
    assert await payments_of(admin_headers) == [payment]
    assert await payments_of(stranger) == []
    async with provider_client(test_stack) as psp:  # psp is internal: on its own port
        charges = (await psp.get("/v1/charges", params={"reference": order_id})).json()
    assert [charge["id"] for charge in charges["items"]] == [payment["charge_id"]]
