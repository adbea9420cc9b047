"""The shop end to end, through the gateway, against the running stack (real Kafka and
Postgres): an order ends confirmed, rejected or cancelled, and every service tells the same
story through its own API — the order's history, catalog's stock and reservation, payments'
payment, the provider's charges, notifications' email and the SMTP sink's message."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import pytest

from devstack.shop import Customer, Shop
from servicekit.testing.events import eventually

pytestmark = pytest.mark.e2e

Json = dict[str, Any]
NewProduct = Callable[..., Awaitable[Json]]
EmailAbout = Callable[[Customer, str], Awaitable[Json]]
Mailbox = Callable[[str, str], list[EmailMessage]]

CONSUMED = "flotilla_events_consumed_total"
IN_PLACE_ATTEMPTS = 3  # payments' default `consumer_in_place_attempts`


def _journey(order: Json) -> list[tuple[str, str]]:
    return [(entry["status"], entry["cause"]) for entry in order["history"]]


async def _stock(shop: Shop, product: Json) -> int:
    return int((await shop.product(product["id"]))["stock"])


async def test_a_paid_order_is_confirmed_charged_once_its_stock_taken_and_emailed(
    shop: Shop,
    admin: Customer,
    customer: Customer,
    new_product: NewProduct,
    email_about: EmailAbout,
    mailbox: Mailbox,
) -> None:
    product = await new_product(stock=5, price_cents=2_500)

    order_id = await shop.place_order(customer, {product["id"]: 2}, "pm_card_visa")
    order = await shop.until_final(customer, order_id)

    assert (order["status"], order["reason"], order["total_cents"]) == ("confirmed", None, 5_000)
    assert _journey(order) == [
        ("pending", "placed"),
        ("awaiting_payment", "catalog.stock.reserved.v1"),
        ("confirmed", "payments.payment.succeeded.v1"),
    ]
    [charge] = await shop.charges(order_id)
    assert (charge["status"], charge["amount"], charge["currency"]) == ("succeeded", 5_000, "EUR")
    [payment] = await shop.payments(customer, order_id)
    assert (payment["status"], payment["charge_id"], payment["amount_cents"]) == (
        "succeeded",
        charge["id"],
        5_000,
    )
    assert await _stock(shop, product) == 3
    [reservation] = await shop.reservations(admin, order_id)
    assert reservation["status"] == "reserved"
    assert reservation["items"] == [{"product_id": product["id"], "quantity": 2}]

    email = await email_about(customer, order_id)
    assert (email["template"], email["recipient"]) == ("order_confirmed", customer.email)
    assert "we received\nyour payment of 50.00 EUR." in email["body"]
    [message] = mailbox(customer.email, order_id)
    assert message.get_content().strip() == email["body"].strip()


async def test_an_order_beyond_the_stock_is_rejected_without_charge_or_reservation(
    shop: Shop,
    admin: Customer,
    customer: Customer,
    new_product: NewProduct,
    email_about: EmailAbout,
    mailbox: Mailbox,
) -> None:
    product = await new_product(stock=1)

    order_id = await shop.place_order(customer, {product["id"]: 2}, "pm_card_visa")
    order = await shop.until_final(customer, order_id)

    assert (order["status"], order["reason"]) == ("rejected", "out_of_stock")
    assert _journey(order) == [("pending", "placed"), ("rejected", "catalog.stock.rejected.v1")]
    assert await shop.charges(order_id) == []
    assert await shop.payments(customer, order_id) == []
    assert await shop.reservations(admin, order_id) == []
    assert await _stock(shop, product) == 1

    email = await email_about(customer, order_id)
    assert email["template"] == "order_rejected"
    assert f"product {product['id']}: only 1 left (you asked for 2)" in email["body"]
    assert len(mailbox(customer.email, order_id)) == 1


async def test_a_declined_card_cancels_the_order_releases_its_stock_and_says_why(
    shop: Shop,
    admin: Customer,
    customer: Customer,
    new_product: NewProduct,
    email_about: EmailAbout,
    mailbox: Mailbox,
) -> None:
    product = await new_product(stock=4)

    order_id = await shop.place_order(customer, {product["id"]: 3}, "pm_card_declined")
    order = await shop.until_final(customer, order_id)

    assert (order["status"], order["reason"]) == ("cancelled", "payment_declined")
    assert _journey(order) == [
        ("pending", "placed"),
        ("awaiting_payment", "catalog.stock.reserved.v1"),
        ("cancelled", "payments.payment.failed.v1"),
    ]
    # The provider recorded the declined attempt; nothing was taken.
    [charge] = await shop.charges(order_id)
    assert (charge["status"], charge["decline_code"]) == ("failed", "card_declined")
    [payment] = await shop.payments(customer, order_id)
    assert (payment["status"], payment["reason"], payment["charge_id"]) == (
        "failed",
        "declined",
        None,
    )

    async def released() -> bool:
        reservations = await shop.reservations(admin, order_id)
        return [r["status"] for r in reservations] == ["released"]

    await eventually(released, timeout_s=20, what="the reservation released")
    assert await _stock(shop, product) == 4

    email = await email_about(customer, order_id)
    assert email["template"] == "order_cancelled"
    assert "(45.00 EUR)\nwas cancelled because your payment was declined." in email["body"]
    assert len(mailbox(customer.email, order_id)) == 1


async def test_a_provider_outage_is_retried_and_the_order_confirmed_once_it_returns(
    shop: Shop,
    customer: Customer,
    new_product: NewProduct,
    psp_faults: Callable[..., Awaitable[Json]],
    metric: Callable[..., Awaitable[float]],
) -> None:
    product = await new_product(stock=2)
    deferred = {"group": "payments", "event_type": "catalog.stock.reserved.v1"}
    deferred_before = await metric("payments", CONSUMED, outcome="retried", **deferred)
    await psp_faults(outage=True)

    order_id = await shop.place_order(customer, {product["id"]: 1}, "pm_card_visa")

    async def sent_to_a_retry_topic() -> bool:
        deferred_now = await metric("payments", CONSUMED, outcome="retried", **deferred)
        return deferred_now > deferred_before

    # Payments tried in place (its attempts and its client's retries all answered 503), then
    # deferred the reservation to its first retry topic.
    await eventually(sent_to_a_retry_topic, timeout_s=30, what="payments to defer the charge")
    assert (await shop.order(customer, order_id))["status"] == "awaiting_payment"
    assert await shop.charges(order_id) == []

    await psp_faults()  # the provider is back
    order = await shop.until_final(customer, order_id, timeout_s=45)

    assert order["status"] == "confirmed"
    [payment] = await shop.payments(customer, order_id)
    assert payment["status"] == "succeeded"
    assert payment["attempts"] > IN_PLACE_ATTEMPTS  # charged from a retry topic
    assert [c["status"] for c in await shop.charges(order_id)] == ["succeeded"]


async def test_ten_customers_racing_for_the_last_unit_one_gets_it_the_rest_are_rejected(
    shop: Shop, admin: Customer, customers: list[Customer], new_product: NewProduct
) -> None:
    product = await new_product(stock=1)

    placed = await asyncio.gather(
        *(shop.place_order(c, {product["id"]: 1}, "pm_card_visa") for c in customers)
    )
    orders = await asyncio.gather(
        *(shop.until_final(c, order_id) for c, order_id in zip(customers, placed, strict=True))
    )

    outcomes = sorted((o["status"], o["reason"]) for o in orders)
    assert outcomes == [("confirmed", None)] + [("rejected", "out_of_stock")] * 9
    assert await _stock(shop, product) == 0
    for order in orders:
        charges = [c["status"] for c in await shop.charges(order["id"])]
        reservations = await shop.reservations(admin, order["id"])
        if order["status"] == "confirmed":
            assert (charges, [r["status"] for r in reservations]) == (["succeeded"], ["reserved"])
        else:
            assert (charges, reservations) == ([], [])
