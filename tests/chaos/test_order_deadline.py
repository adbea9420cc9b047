"""An order whose saga cannot go on (payments crashed and nothing restarts it) is not left
open: orders' sweeper cancels it once its deadline passed (120 s by default, swept every 5 s),
catalog gives its stock back and the customer is told. Over two minutes: `make chaos` runs it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from devstack.shop import Customer, Shop
from servicekit.testing.events import eventually

pytestmark = pytest.mark.chaos

Crashes = Any  # conftest's Crashes
ORDER_DEADLINE_S = 120.0  # orders' default `order_deadline_s`
SWEEP_INTERVAL_S = 5.0  # orders' default `sweep_interval_s`


async def test_an_order_stuck_past_its_deadline_is_cancelled_and_its_stock_released(
    shop: Shop, admin: Customer, crashes: Crashes
) -> None:
    customer = await shop.sign_up("Stuck")
    product = await shop.add_product(admin, name="Deadline test product", stock=2)
    await crashes.kill("payments")
    try:
        order_id = await shop.place_order(customer, {product["id"]: 1}, "pm_card_visa")
        order = await shop.until_final(
            customer, order_id, timeout_s=ORDER_DEADLINE_S + SWEEP_INTERVAL_S + 15
        )
    finally:
        await crashes.start("payments")

    assert (order["status"], order["reason"]) == ("cancelled", "timeout")
    assert [(h["status"], h["cause"]) for h in order["history"]] == [
        ("pending", "placed"),
        ("awaiting_payment", "catalog.stock.reserved.v1"),
        ("cancelled", "deadline_passed"),
    ]
    cancelled_at = datetime.fromisoformat(order["history"][-1]["at"])
    deadline = datetime.fromisoformat(order["deadline_at"])
    assert deadline <= cancelled_at <= deadline + timedelta(seconds=SWEEP_INTERVAL_S + 1)

    async def released() -> bool:
        reservations = await shop.reservations(admin, order_id)
        return [r["status"] for r in reservations] == ["released"]

    await eventually(released, timeout_s=20, what="the reservation released")
    assert (await shop.product(product["id"]))["stock"] == 2

    async def told() -> bool:
        notes = await shop.notifications(customer)
        return any(order_id in n["subject"] for n in notes)

    await eventually(told, timeout_s=20, what="the cancellation email")
    [email] = [n for n in await shop.notifications(customer) if order_id in n["subject"]]
    assert "because it could not be completed in time." in email["body"]

    # Payments, back, still has the reservation in its backlog.
    payments: list[dict[str, Any]] = []

    async def settled() -> bool:
        payments[:] = await shop.payments(admin, order_id)
        return bool(payments) and payments[0]["status"] != "pending"

    await eventually(settled, timeout_s=60, what="payments to work off its backlog")
    # The reservation carries the order's deadline: payments does not charge past it.
    assert (payments[0]["status"], payments[0]["reason"]) == ("failed", "order_expired")
    assert [c for c in await shop.charges(order_id) if c["status"] == "succeeded"] == []
