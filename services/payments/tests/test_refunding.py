"""An order that ends cancelled gets back what it was charged: payments' consumer, in-process,
on the stack's Kafka, Postgres and psp, from `orders.order.cancelled.v1` to one refund at the
psp and `payments.payment.refunded.v1` in the outbox."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client import REGISTRY

from contracts.catalog import StockReservedV1
from contracts.orders import OrderCancelledV1
from contracts.payments import PaymentRefundedV1
from payments.domain import charge_key
from servicekit import is_id
from servicekit.testing import eventually

Pipeline = Any  # conftest's Pipeline
Reservation = Callable[..., StockReservedV1]
SetFaults = Callable[..., Awaitable[None]]


def _refunds(outcome: str) -> float:
    value = REGISTRY.get_sample_value("flotilla_payments_refunds_total", {"outcome": outcome})
    return value or 0.0


def _cancelled(reserved: StockReservedV1, reason: str = "timeout") -> OrderCancelledV1:
    return OrderCancelledV1(
        order_id=reserved.order_id,
        user_id=reserved.user_id,
        email="shopper@example.com",
        reason=reason,
        total_cents=reserved.total_cents,
        currency=reserved.currency,
        cancelled_at=datetime.now(UTC),
    )


async def _settled_refund(pipeline: Pipeline, order_id: str) -> Any:
    """The order's payment, once its cancellation was settled (refunded or nothing charged)."""

    async def settled() -> bool:
        payment = await pipeline.payment(order_id)
        return payment is not None and payment.refund_status is not None

    await eventually(settled, timeout_s=30, what=f"the cancellation of {order_id} settled")
    return await pipeline.payment(order_id)


async def test_a_cancelled_order_s_succeeded_payment_is_refunded_once_though_delivered_twice(
    pipeline: Pipeline, reservation: Reservation
) -> None:
    reserved = reservation()
    await pipeline.publish(reserved)
    refunded_before = _refunds("refunded")

    async with pipeline.consuming():
        paid = await pipeline.settled(reserved.order_id)
        cancelled = _cancelled(reserved)
        envelope = await pipeline.publish(cancelled)
        await pipeline.publish(cancelled, envelope)  # a redelivery: the same event id
        await pipeline.publish(_cancelled(reserved))  # the same cancellation in another event
        payment = await _settled_refund(pipeline, reserved.order_id)

        async def all_handled() -> bool:
            seen = [
                pipeline.consumed(outcome, OrderCancelledV1.EVENT_TYPE)
                for outcome in ("processed", "duplicate")
            ]
            return sum(seen) >= 3

        await eventually(all_handled, what="the three cancellations handled")

    assert paid.status == "succeeded"
    assert (payment.status, payment.refund_status, payment.charge_id) == (
        "refunded",
        "refunded",
        paid.charge_id,
    )
    assert is_id(payment.refund_id, "re")
    [charge] = await pipeline.charges(reserved.order_id)
    assert (charge["refunded"], charge["refund"]["id"]) == (True, payment.refund_id)
    refunded = [
        e
        for e in await pipeline.published(reserved.order_id)
        if e["type"] == PaymentRefundedV1.EVENT_TYPE
    ]
    assert [PaymentRefundedV1.model_validate(e["data"]) for e in refunded] == [
        PaymentRefundedV1(
            payment_id=payment.id,
            order_id=reserved.order_id,
            user_id=reserved.user_id,
            amount_cents=2598,
            currency="EUR",
            charge_id=paid.charge_id,
            refund_id=payment.refund_id,
            refunded_at=payment.refunded_at,
        )
    ]
    assert refunded[0]["key"] == payment.id
    assert _refunds("refunded") == refunded_before + 1


async def test_a_provider_unavailable_payment_whose_charge_exists_is_refunded(
    pipeline: Pipeline, reservation: Reservation, psp_faults: SetFaults
) -> None:
    # The psp charges but every answer is lost; payments gives up at once.
    settings = pipeline.settings.model_copy(update={"payment_give_up_s": 0.01})
    await psp_faults(lose_answer_rate=1.0)
    reserved = reservation()
    await pipeline.publish(reserved)

    async with pipeline.consuming(settings):
        failed = await pipeline.settled(reserved.order_id)
        [charge] = await pipeline.charges(reserved.order_id)
        await psp_faults()
        await pipeline.publish(_cancelled(reserved, "payment_failed"))
        payment = await _settled_refund(pipeline, reserved.order_id)

    assert (failed.status, failed.reason, failed.charge_id) == (
        "failed",
        "provider_unavailable",
        None,
    )
    assert charge["status"] == "succeeded"
    assert (payment.status, payment.refund_status) == ("refunded", "refunded")
    [charge] = await pipeline.charges(reserved.order_id)
    assert (charge["refunded"], charge["refund"]["id"]) == (True, payment.refund_id)
    types = [e["type"] for e in await pipeline.published(reserved.order_id)]
    assert types.count(PaymentRefundedV1.EVENT_TYPE) == 1


async def test_a_provider_unavailable_payment_never_charged_is_marked_nothing_charged(
    pipeline: Pipeline, reservation: Reservation, psp_faults: SetFaults
) -> None:
    settings = pipeline.settings.model_copy(update={"payment_give_up_s": 0.01})
    await psp_faults(outage=True)
    reserved = reservation()
    await pipeline.publish(reserved)
    nothing_before = _refunds("nothing_charged")

    async with pipeline.consuming(settings):
        failed = await pipeline.settled(reserved.order_id)
        await psp_faults()
        await pipeline.publish(_cancelled(reserved, "payment_failed"))
        payment = await _settled_refund(pipeline, reserved.order_id)

    assert (failed.status, failed.reason) == ("failed", "provider_unavailable")
    assert (payment.status, payment.reason, payment.refund_status, payment.refund_id) == (
        "failed",
        "provider_unavailable",
        "nothing_charged",
        None,
    )
    assert await pipeline.charges(reserved.order_id) == []
    types = [e["type"] for e in await pipeline.published(reserved.order_id)]
    assert PaymentRefundedV1.EVENT_TYPE not in types
    assert _refunds("nothing_charged") == nothing_before + 1


async def test_a_declined_payment_s_cancellation_asks_the_provider_nothing(
    pipeline: Pipeline, reservation: Reservation
) -> None:
    reserved = reservation(payment_method="pm_card_declined")
    await pipeline.publish(reserved)

    async with pipeline.consuming():
        await pipeline.settled(reserved.order_id)
        await pipeline.publish(_cancelled(reserved, "payment_declined"))

        async def handled() -> bool:
            return bool(pipeline.consumed("processed", OrderCancelledV1.EVENT_TYPE) >= 1)

        await eventually(handled, what="the cancellation handled")

    payment = await pipeline.payment(reserved.order_id)
    assert (payment.status, payment.reason, payment.refund_status) == ("failed", "declined", None)


async def test_a_refund_while_the_provider_is_down_is_retried_until_it_is_back(
    pipeline: Pipeline, reservation: Reservation, psp_faults: SetFaults
) -> None:
    reserved = reservation()
    await pipeline.publish(reserved)
    unanswered_before = _refunds("provider_unavailable")

    async with pipeline.consuming():
        await pipeline.settled(reserved.order_id)
        await psp_faults(outage=True)
        await pipeline.publish(_cancelled(reserved))

        async def deferred() -> bool:
            retried = pipeline.consumed("retried", OrderCancelledV1.EVENT_TYPE)
            return bool(retried >= 1)

        # Tried in place, then sent to the group's first retry topic.
        await eventually(deferred, timeout_s=30, what="the refund deferred to a retry topic")
        assert (await pipeline.payment(reserved.order_id)).status == "succeeded"
        await psp_faults()
        payment = await _settled_refund(pipeline, reserved.order_id)

    assert _refunds("provider_unavailable") > unanswered_before
    assert (payment.status, payment.refund_status) == ("refunded", "refunded")
    [charge] = await pipeline.charges(reserved.order_id)
    assert charge["refunded"] is True
    assert pipeline.consumed("dead_lettered", OrderCancelledV1.EVENT_TYPE) == 0


async def test_an_expired_order_charged_by_an_attempt_whose_answer_was_lost_is_refunded(
    pipeline: Pipeline, reservation: Reservation, psp: httpx.AsyncClient
) -> None:
    # An earlier attempt charged under the order's key, lost its answer and rolled back; the
    # reservation came back only after the order's deadline, so payments recorded order_expired.
    reserved = reservation(deadline_at=datetime.now(UTC) - timedelta(seconds=1))
    earlier_attempt = await psp.post(
        "/v1/charges",
        json={
            "amount": reserved.total_cents,
            "currency": reserved.currency,
            "payment_method": reserved.payment_method,
            "reference": reserved.order_id,
        },
        headers={"Idempotency-Key": charge_key(reserved.order_id)},
    )
    assert earlier_attempt.status_code == 201
    await pipeline.publish(reserved)

    async with pipeline.consuming():
        expired = await pipeline.settled(reserved.order_id)
        await pipeline.publish(_cancelled(reserved, "timeout"))
        payment = await _settled_refund(pipeline, reserved.order_id)

    assert (expired.status, expired.reason) == ("failed", "order_expired")
    assert (payment.refund_status, payment.refund_id) != ("nothing_charged", None)
    [charge] = await pipeline.charges(reserved.order_id)
    assert (charge["id"], charge["refunded"]) == (earlier_attempt.json()["id"], True)
    assert charge["refund"]["id"] == payment.refund_id
