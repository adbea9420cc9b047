"""From a stock reservation on Kafka to one charge at the stack's psp and the payment's event in
the outbox: payments' own consumer, in-process, on the stack's Kafka, Postgres and psp."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from contracts.catalog import StockReservedV1
from contracts.payments import PaymentFailedV1, PaymentSucceededV1
from servicekit import is_id
from servicekit.db import statement_time
from servicekit.testing import eventually

Pipeline = Any  # conftest's Pipeline
Reservation = Callable[..., StockReservedV1]


def _revenue(currency: str) -> float:
    value = REGISTRY.get_sample_value(
        "flotilla_payments_revenue_cents_total", {"currency": currency}
    )
    return value or 0.0


async def test_a_reserved_order_is_charged_once_and_its_success_published(
    pipeline: Pipeline, reservation: Reservation
) -> None:
    reserved = reservation(currency="USD")
    revenue_before = _revenue("USD")
    await pipeline.publish(reserved)

    async with pipeline.consuming():
        payment = await pipeline.settled(reserved.order_id)

    assert is_id(payment.id, "pay")
    assert (payment.status, payment.reason, payment.attempts) == ("succeeded", None, 1)
    assert (payment.user_id, payment.amount_cents, payment.currency) == (
        reserved.user_id,
        2598,
        "USD",
    )
    [charge] = await pipeline.charges(reserved.order_id)
    assert charge["id"] == payment.charge_id
    assert (charge["amount"], charge["currency"], charge["status"]) == (2598, "USD", "succeeded")
    [event] = await pipeline.published(reserved.order_id)
    assert event["type"] == PaymentSucceededV1.EVENT_TYPE
    assert event["key"] == payment.id
    assert event["headers"]["ce_source"] == "/payments"
    assert PaymentSucceededV1.model_validate(event["data"]) == PaymentSucceededV1(
        payment_id=payment.id,
        order_id=reserved.order_id,
        user_id=reserved.user_id,
        amount_cents=2598,
        currency="USD",
        charge_id=charge["id"],
        succeeded_at=payment.updated_at,
    )
    assert _revenue("USD") == revenue_before + 2598


async def test_a_redelivered_reservation_charges_once(
    pipeline: Pipeline, reservation: Reservation
) -> None:
    reserved = reservation()
    envelope = await pipeline.publish(reserved)
    await pipeline.publish(reserved, envelope)  # a redelivery: the same event id
    await pipeline.publish(reserved)  # the same order in another event

    async with pipeline.consuming():

        async def all_handled() -> bool:
            handled = pipeline.consumed("processed") + pipeline.consumed("duplicate")
            return bool(handled >= 3)

        await eventually(all_handled, what="the three records handled")

    assert pipeline.consumed("duplicate") == 1
    payment = await pipeline.settled(reserved.order_id)
    assert payment.status == "succeeded"
    assert len(await pipeline.charges(reserved.order_id)) == 1
    assert len(await pipeline.published(reserved.order_id)) == 1


@pytest.mark.parametrize(
    ("method", "reason"),
    [("pm_card_declined", "declined"), ("pm_card_insufficient_funds", "insufficient_funds")],
)
async def test_a_declined_card_fails_the_payment_with_the_reason(
    pipeline: Pipeline, reservation: Reservation, method: str, reason: str
) -> None:
    reserved = reservation(payment_method=method)
    await pipeline.publish(reserved)

    async with pipeline.consuming():
        payment = await pipeline.settled(reserved.order_id)

    assert (payment.status, payment.reason, payment.charge_id) == ("failed", reason, None)
    [charge] = await pipeline.charges(reserved.order_id)
    assert charge["status"] == "failed"
    [event] = await pipeline.published(reserved.order_id)
    assert event["type"] == PaymentFailedV1.EVENT_TYPE
    failed = PaymentFailedV1.model_validate(event["data"])
    assert (failed.payment_id, failed.reason, failed.amount_cents) == (payment.id, reason, 2598)


async def test_an_unknown_payment_method_is_declined(
    pipeline: Pipeline, reservation: Reservation
) -> None:
    reserved = reservation(payment_method="pm_iou")
    await pipeline.publish(reserved)

    async with pipeline.consuming():
        payment = await pipeline.settled(reserved.order_id)

    assert (payment.status, payment.reason) == ("failed", "declined")
    assert await pipeline.charges(reserved.order_id) == []


async def test_a_reservation_past_its_order_s_deadline_is_not_charged(
    pipeline: Pipeline, reservation: Reservation
) -> None:
    # The order was cancelled for timeout while payments was behind (it ran out of deadline).
    reserved = reservation(deadline_at=datetime.now(UTC) - timedelta(seconds=1))
    await pipeline.publish(reserved)

    async with pipeline.consuming():
        payment = await pipeline.settled(reserved.order_id)

    assert (payment.status, payment.reason, payment.charge_id) == ("failed", "order_expired", None)
    assert await pipeline.charges(reserved.order_id) == []
    # Nothing to tell: orders' sweeper cancels the order (reason timeout) on its own.
    assert await pipeline.published(reserved.order_id) == []


async def test_a_reservation_within_the_margin_by_the_database_s_clock_is_not_charged(
    pipeline: Pipeline, reservation: Reservation
) -> None:
    """The order's deadline is the database's time (orders stamps it so); payments compares
    it with the database's clock too, not its own, so only the margin itself matters."""
    async with pipeline.database.transaction() as session:
        database_now = await statement_time(session)
    margin = pipeline.settings.payment_deadline_margin_s
    reserved = reservation(deadline_at=database_now + timedelta(seconds=margin - 1))
    await pipeline.publish(reserved)

    async with pipeline.consuming():
        payment = await pipeline.settled(reserved.order_id)

    assert (payment.status, payment.reason) == ("failed", "order_expired")
    assert await pipeline.charges(reserved.order_id) == []
