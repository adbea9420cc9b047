"""What the order emails say: pure functions of the order events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.orders import CancelReason, OrderCancelledV1, OrderConfirmedV1, OrderRejectedV1
from contracts.values import StockShortfall
from notifications.order_emails import (
    format_money,
    render_order_cancelled,
    render_order_confirmed,
    render_order_rejected,
)

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ORDER = "ord_01jz3k8w6x9a2b4c5d6e7f8g9h"


@pytest.mark.parametrize(
    ("cents", "currency", "shown"),
    [
        (2500, "EUR", "25.00 EUR"),
        (5, "USD", "0.05 USD"),
        (1200, "JPY", "1200 JPY"),
        (0, "EUR", "0.00 EUR"),
    ],
)
def test_amounts_are_shown_in_the_currencys_major_unit(
    cents: int, currency: str, shown: str
) -> None:
    assert format_money(cents, currency) == shown


def test_a_confirmation_names_the_order_and_the_amount_paid() -> None:
    rendered = render_order_confirmed(
        OrderConfirmedV1(
            order_id=ORDER,
            user_id="usr_1",
            email="ann@example.com",
            total_cents=2590,
            currency="EUR",
            confirmed_at=AT,
        )
    )
    assert rendered.subject == f"Your order {ORDER} is confirmed"
    assert f"Your order {ORDER} is confirmed" in rendered.body
    assert "25.90 EUR" in rendered.body
    assert rendered.body.endswith("\n")
    assert "\r" not in rendered.body


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("payment_declined", "because your payment was declined."),
        ("insufficient_funds", "because your card had insufficient funds."),
        ("payment_failed", "because we could not take your payment."),
        ("timeout", "because it could not be completed in time."),
    ],
)
def test_a_cancellation_gives_the_reason_in_words(reason: CancelReason, words: str) -> None:
    rendered = render_order_cancelled(
        OrderCancelledV1(
            order_id=ORDER,
            user_id="usr_1",
            email="ann@example.com",
            reason=reason,
            total_cents=1000,
            currency="EUR",
            cancelled_at=AT,
        )
    )
    assert rendered.subject == f"Your order {ORDER} was cancelled"
    assert words in rendered.body
    assert reason not in rendered.body  # words, not codes
    assert ("You have not been charged" in rendered.body) is (reason != "timeout")


def test_a_rejection_lists_every_item_that_could_not_be_had() -> None:
    rendered = render_order_rejected(
        OrderRejectedV1(
            order_id=ORDER,
            user_id="usr_1",
            email="ann@example.com",
            shortfalls=[
                StockShortfall(product_id="prd_a", reason="out_of_stock", requested=3, available=1),
                StockShortfall(product_id="prd_b", reason="out_of_stock", requested=1, available=0),
                StockShortfall(
                    product_id="prd_c", reason="unknown_product", requested=1, available=0
                ),
                StockShortfall(
                    product_id="prd_d", reason="currency_mismatch", requested=2, available=9
                ),
            ],
            rejected_at=AT,
        )
    )
    assert rendered.subject == f"Your order {ORDER} could not be accepted"
    items = [line for line in rendered.body.splitlines() if line.startswith("- ")]
    assert items == [
        "- product prd_a: only 1 left (you asked for 3)",
        "- product prd_b: out of stock (you asked for 1)",
        "- product prd_c: it is not in our catalog",
        "- product prd_d: it is not sold in this currency",
    ]
    assert "you have not been charged" in rendered.body
