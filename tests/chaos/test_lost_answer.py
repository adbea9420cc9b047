"""The payment provider charges but its answers are lost (a 500 after the charge) for longer
than payments waits: payments fails the payment as `provider_unavailable`, orders cancels the
order — and the money taken is given back. Payments, told of the cancellation, finds the charge
made under the order's key and refunds it.

Payments retries the charge it gets no answer for until the reservation is
`payment_give_up_s` old (60 s by default), so this takes over a minute: `make chaos` runs it.
"""

from __future__ import annotations

from typing import Any

import pytest

from devstack.shop import Customer, Shop
from servicekit.testing.events import eventually

pytestmark = pytest.mark.chaos

Json = dict[str, Any]

LAST_RETRY_S = 5 + 15 + 45  # when payments' last retry tier runs (deploy/topics.yaml)


async def test_a_charge_whose_answers_were_lost_is_refunded_when_the_order_is_cancelled(
    shop: Shop, admin: Customer
) -> None:
    customer = await shop.sign_up("Unlucky")
    product = await shop.add_product(admin, name="Lost answer product", stock=3)
    await shop.set_psp_faults(admin, lose_answer_rate=1.0)
    try:
        order_id = await shop.place_order(customer, {product["id"]: 1}, "pm_card_visa")
        order = await shop.until_final(customer, order_id, timeout_s=LAST_RETRY_S + 30)
    finally:
        await shop.set_psp_faults(admin)

    assert (order["status"], order["reason"]) == ("cancelled", "payment_failed")
    # The provider did charge, once (every retry replayed the key's charge).
    [charge] = await shop.charges(order_id)
    assert charge["status"] == "succeeded"

    payments: list[Json] = []

    async def refunded() -> bool:
        payments[:] = await shop.payments(customer, order_id)
        return bool(payments) and payments[0]["refund_status"] is not None

    await eventually(refunded, timeout_s=60, what="payments to refund the charge")
    [payment] = payments
    assert (payment["status"], payment["reason"], payment["refund_status"]) == (
        "refunded",
        "provider_unavailable",
        "refunded",
    )
    [charge] = await shop.charges(order_id)
    assert (charge["refunded"], charge["refund"]["id"]) == (True, payment["refund_id"])
    assert charge["refund"]["amount"] == charge["amount"]

    async def stock_back() -> bool:
        return bool((await shop.product(product["id"]))["stock"] == 3)

    await eventually(stock_back, timeout_s=20, what="the reservation released")
