"""The sweeper cancels every open order past its deadline, once, and says so (compensation)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from contracts.catalog import StockReservedV1
from contracts.payments import PaymentSucceededV1
from contracts.values import StockLine
from orders.domain import Order
from orders.handlers import on_payment_succeeded, on_stock_reserved
from orders.sweeper import OverdueSweeper
from servicekit import new_id
from servicekit.db import Database
from servicekit.events import Outbox
from servicekit.testing import event_context, eventually

PlaceOrder = Callable[..., Awaitable[Order]]
OutboxEvents = Callable[[str], Awaitable[list[dict[str, Any]]]]
Auth = Callable[..., dict[str, str]]

OVERDUE = 0.001  # seconds: past its deadline by the time the sweeper looks


def _sweeper(database: Database, batch_size: int = 100) -> OverdueSweeper:
    return OverdueSweeper(database, Outbox("orders"), interval_s=0.05, batch_size=batch_size)


async def _reserve(database: Database, order: Order) -> None:
    async with database.transaction() as session:
        reserved = StockReservedV1(
            order_id=order.id,
            user_id=order.user_id,
            items=[
                StockLine(product_id=line.product_id, quantity=line.quantity)
                for line in order.lines
            ],
            total_cents=order.total_cents,
            currency=order.currency,
            payment_method=order.payment_method,
            reserved_at=datetime.now(UTC),
        )
        await on_stock_reserved(session, reserved, event_context(reserved, Outbox("orders")))


async def _pay(database: Database, order: Order) -> None:
    async with database.transaction() as session:
        succeeded = PaymentSucceededV1(
            payment_id=new_id("pay"),
            order_id=order.id,
            user_id=order.user_id,
            amount_cents=order.total_cents,
            currency=order.currency,
            charge_id=new_id("ch"),
            succeeded_at=datetime.now(UTC),
        )
        await on_payment_succeeded(session, succeeded, event_context(succeeded, Outbox("orders")))


async def _read(api: httpx.AsyncClient, auth: Auth, order: Order) -> dict[str, Any]:
    response = await api.get(f"/v1/orders/{order.id}", headers=auth(order.user_id))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_overdue_orders_are_cancelled_for_timeout_and_their_stock_released(
    place: PlaceOrder,
    database: Database,
    api: httpx.AsyncClient,
    auth: Auth,
    outbox_events: OutboxEvents,
) -> None:
    pending = await place(deadline_s=OVERDUE)
    awaiting = await place(deadline_s=OVERDUE)
    await _reserve(database, awaiting)

    assert await _sweeper(database).sweep() >= 2

    for order, statuses in [
        (pending, ["pending", "cancelled"]),
        (awaiting, ["pending", "awaiting_payment", "cancelled"]),
    ]:
        read = await _read(api, auth, order)
        assert (read["status"], read["reason"]) == ("cancelled", "timeout")
        assert [entry["status"] for entry in read["history"]] == statuses
        assert read["history"][-1]["cause"] == "deadline_passed"
        [*_, cancelled] = await outbox_events(order.id)
        assert cancelled["type"] == "orders.order.cancelled.v1"
        assert (cancelled["order_id"], cancelled["reason"]) == (order.id, "timeout")
        assert (cancelled["total_cents"], cancelled["currency"]) == (2_000, "EUR")


async def test_orders_within_their_deadline_or_final_are_left_alone(
    place: PlaceOrder, database: Database, api: httpx.AsyncClient, auth: Auth
) -> None:
    on_time = await place(deadline_s=120)
    confirmed = await place(deadline_s=OVERDUE)
    await _reserve(database, confirmed)
    await _pay(database, confirmed)

    await _sweeper(database).sweep()

    assert (await _read(api, auth, on_time))["status"] == "pending"
    assert (await _read(api, auth, confirmed))["status"] == "confirmed"


async def test_sweepers_of_several_replicas_cancel_each_order_once(
    place: PlaceOrder, database: Database, outbox_events: OutboxEvents
) -> None:
    overdue = [await place(deadline_s=OVERDUE) for _ in range(7)]
    replicas = [_sweeper(database, batch_size=2) for _ in range(3)]

    await asyncio.gather(*(replica.sweep() for replica in replicas))

    for order in overdue:
        types = [event["type"] for event in await outbox_events(order.id)]
        assert types == ["orders.order.placed.v1", "orders.order.cancelled.v1"]


async def test_the_running_sweeper_cancels_an_order_once_its_deadline_passes(
    place: PlaceOrder, database: Database, api: httpx.AsyncClient, auth: Auth
) -> None:
    order = await place(deadline_s=0.5)
    sweeper = _sweeper(database)
    await sweeper.start()
    try:

        async def cancelled() -> bool:
            return bool((await _read(api, auth, order))["status"] == "cancelled")

        await eventually(cancelled, timeout_s=10, what="the overdue order cancelled")
    finally:
        await sweeper.stop()
    read = await _read(api, auth, order)
    cancelled_at = datetime.fromisoformat(read["history"][-1]["at"])
    assert cancelled_at >= datetime.fromisoformat(read["deadline_at"])


async def test_what_the_sweeper_could_not_cancel_is_measured_as_overdue(
    place: PlaceOrder, database: Database
) -> None:
    """`flotilla_orders_overdue` (alert FlotillaOrdersStuckPastDeadline) counts open orders
    past their deadline after a round: 0 once swept, the stuck ones while it cannot sweep."""
    await place(deadline_s=OVERDUE)
    await asyncio.sleep(OVERDUE)
    sweeper = _sweeper(database)
    assert await sweeper.measure_overdue() >= 1  # other tests' leftovers may count too
    await sweeper.sweep()
    assert await sweeper.measure_overdue() == 0
