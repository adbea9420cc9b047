"""The payment provider down for longer than payments waits for it: the order's saga still
ends — cancelled, its stock given back, the customer told — and nothing was charged.

Payments retries a charge the provider cannot answer (in place, then through its retry
topics: 5, 15, 45 s) until the reservation is `payment_give_up_s` old (60 s by default), so
this takes over a minute on the stack's default settings: `make chaos` runs it.
"""

from __future__ import annotations

from typing import Any

import pytest

from devstack.shop import Customer, Shop
from servicekit.testing.events import eventually

pytestmark = pytest.mark.chaos

Json = dict[str, Any]

GIVE_UP_S = 60.0  # payments' default `payment_give_up_s`
LAST_RETRY_S = 5 + 15 + 45  # when payments' last retry tier runs (deploy/topics.yaml)


async def test_an_outage_longer_than_payments_waits_cancels_the_order_and_frees_its_stock(
    shop: Shop, admin: Customer
) -> None:
    customer = await shop.sign_up("Patient")
    product = await shop.add_product(admin, name="Outage test product", stock=3)
    await shop.set_psp_faults(admin, outage=True)
    try:
        order_id = await shop.place_order(customer, {product["id"]: 2}, "pm_card_visa")
        order = await shop.until_final(customer, order_id, timeout_s=LAST_RETRY_S + 30)
    finally:
        await shop.set_psp_faults(admin)

    assert (order["status"], order["reason"]) == ("cancelled", "payment_failed")
    assert [(h["status"], h["cause"]) for h in order["history"]] == [
        ("pending", "placed"),
        ("awaiting_payment", "catalog.stock.reserved.v1"),
        ("cancelled", "payments.payment.failed.v1"),
    ]
    [payment] = await shop.payments(customer, order_id)
    assert (payment["status"], payment["reason"]) == ("failed", "provider_unavailable")
    assert await shop.charges(order_id) == []

    async def stock_back() -> bool:
        return bool((await shop.product(product["id"]))["stock"] == 3)

    await eventually(stock_back, timeout_s=20, what="the reservation released")
    [email] = await _notifications_about(shop, customer, order_id)
    assert "because we could not take your payment." in email["body"]


async def _notifications_about(shop: Shop, customer: Customer, order_id: str) -> list[Json]:
    found: list[Json] = []

    async def sent() -> bool:
        found[:] = [n for n in await shop.notifications(customer) if order_id in n["subject"]]
        return bool(found)

    await eventually(sent, timeout_s=20, what="the cancellation email")
    return found
