"""Through the running stack: placed and cancelled orders on `orders.order` reach the catalog
service's consumer, and its decisions appear on `catalog.stock` with the agreed payloads."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.base import Event
from contracts.catalog import StockRejectedV1, StockReleasedV1, StockReservedV1
from contracts.orders import OrderCancelledV1, OrderPlacedV1
from contracts.values import OrderLine
from devstack.stack import Stack
from servicekit import new_id
from servicekit.events import EventEnvelope, KafkaSecurity
from servicekit.testing import Record, read_topic

pytestmark = pytest.mark.e2e


async def _product(gateway: httpx.AsyncClient, admin: dict[str, str], stock: int) -> dict[str, Any]:
    response = await gateway.post(
        "/catalog/v1/products",
        json={
            "sku": f"E2E-{uuid.uuid4().hex[:12]}",
            "name": "Stacked thing",
            "price_cents": 750,
            "currency": "EUR",
            "stock": stock,
        },
        headers={**admin, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _stock(gateway: httpx.AsyncClient, product: dict[str, Any]) -> int:
    response = await gateway.get(f"/catalog/v1/products/{product['id']}")
    return int(response.json()["stock"])


def _placed(product: dict[str, Any], quantity: int) -> OrderPlacedV1:
    now = datetime.now(UTC)
    return OrderPlacedV1(
        order_id=new_id("ord"),
        user_id=new_id("usr"),
        email="ann@example.com",
        items=[OrderLine(product_id=product["id"], quantity=quantity, unit_price_cents=750)],
        total_cents=750 * quantity,
        currency="EUR",
        payment_method="pm_card_visa",
        placed_at=now,
        deadline_at=now + timedelta(minutes=2),
    )


def _envelope(event: Event) -> EventEnvelope:
    return EventEnvelope(
        id=new_id("evt"),
        type=event.EVENT_TYPE,
        source="/orders",
        subject=event.subject(),
        time=datetime.now(UTC),
        data=event.model_dump_json().encode(),
    )


async def _publish(producer: AIOKafkaProducer, envelope: EventEnvelope) -> None:
    await producer.send_and_wait(
        "orders.order", value=envelope.data, key=envelope.key, headers=envelope.kafka_headers()
    )


async def _decisions(test_stack: Stack, order_ids: Collection[str], count: int) -> list[Record]:
    return await read_topic(
        test_stack.kafka.bootstrap_servers,
        "catalog.stock",
        count,
        where=lambda record: record.key in order_ids,
        security=KafkaSecurity.from_environment(test_stack.kafka_admin_env()),
    )


async def test_a_placed_order_is_reserved_and_announced_on_catalog_stock(
    test_stack: Stack,
    gateway: httpx.AsyncClient,
    stack_admin: dict[str, str],
    producer: AIOKafkaProducer,
) -> None:
    product = await _product(gateway, stack_admin, stock=3)
    placed = _placed(product, 2)
    await _publish(producer, _envelope(placed))

    [record] = await _decisions(test_stack, {placed.order_id}, 1)
    assert record.headers["ce_type"] == "catalog.stock.reserved.v1"
    assert record.headers["ce_source"] == "/catalog"
    assert record.headers["ce_subject"] == placed.order_id
    assert record.headers["content-type"] == "application/json"
    reserved = StockReservedV1.model_validate_json(record.value)
    assert reserved.model_dump(exclude={"reserved_at"}) == {
        "order_id": placed.order_id,
        "user_id": placed.user_id,
        "items": [{"product_id": product["id"], "quantity": 2}],
        "total_cents": 1500,
        "currency": "EUR",
        "payment_method": "pm_card_visa",
        "deadline_at": placed.deadline_at,  # so payments never charges a timed-out order
    }
    assert await _stock(gateway, product) == 1
    listed = await gateway.get(
        "/catalog/v1/reservations", params={"order_id": placed.order_id}, headers=stack_admin
    )
    [reservation] = listed.json()["items"]
    assert (reservation["status"], reservation["items"]) == (
        "reserved",
        [{"product_id": product["id"], "quantity": 2}],
    )


async def test_a_redelivered_placement_reserves_once_and_a_cancellation_releases_it(
    test_stack: Stack,
    gateway: httpx.AsyncClient,
    stack_admin: dict[str, str],
    producer: AIOKafkaProducer,
) -> None:
    product = await _product(gateway, stack_admin, stock=5)
    placed = _placed(product, 4)
    envelope = _envelope(placed)
    await _publish(producer, envelope)
    await _publish(producer, envelope)  # redelivered: the same event id
    await _publish(producer, _envelope(placed))  # re-published under a new event id
    cancelled = OrderCancelledV1(
        order_id=placed.order_id,
        user_id=placed.user_id,
        email=placed.email,
        reason="payment_declined",
        total_cents=placed.total_cents,
        currency="EUR",
        cancelled_at=datetime.now(UTC),
    )
    await _publish(producer, _envelope(cancelled))
    await _publish(producer, _envelope(cancelled))

    # One order: one partition, in order. Its released event comes after every placement.
    records = await _decisions(test_stack, {placed.order_id}, 2)
    assert [r.headers["ce_type"] for r in records] == [
        "catalog.stock.reserved.v1",
        "catalog.stock.released.v1",
    ]
    released = StockReleasedV1.model_validate_json(records[1].value)
    assert released.order_id == placed.order_id
    assert [line.model_dump() for line in released.items] == [
        {"product_id": product["id"], "quantity": 4}
    ]
    assert await _stock(gateway, product) == 5
    listed = await gateway.get(
        "/catalog/v1/reservations", params={"order_id": placed.order_id}, headers=stack_admin
    )
    assert [r["status"] for r in listed.json()["items"]] == ["released"]


async def test_twenty_orders_for_the_last_unit_across_partitions_reserve_it_once(
    test_stack: Stack,
    gateway: httpx.AsyncClient,
    stack_admin: dict[str, str],
    producer: AIOKafkaProducer,
) -> None:
    product = await _product(gateway, stack_admin, stock=1)
    orders = [_placed(product, 1) for _ in range(20)]
    for placed in orders:
        await producer.send(
            "orders.order",
            value=placed.model_dump_json().encode(),
            key=placed.order_id.encode(),
            headers=_envelope(placed).kafka_headers(),
        )
    await producer.flush()

    records = await _decisions(test_stack, {p.order_id for p in orders}, 20)
    assert len({r.partition for r in records}) > 1  # decided in parallel partitions
    types = sorted(r.headers["ce_type"] for r in records)
    assert types == ["catalog.stock.rejected.v1"] * 19 + ["catalog.stock.reserved.v1"]
    for record in records:
        if record.headers["ce_type"] == "catalog.stock.rejected.v1":
            [shortfall] = StockRejectedV1.model_validate_json(record.value).shortfalls
            assert shortfall.model_dump() == {
                "product_id": product["id"],
                "reason": "out_of_stock",
                "requested": 1,
                "available": 0,
            }
    assert await _stock(gateway, product) == 0
