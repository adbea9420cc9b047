"""payments' use cases. They take the consumer's (or request's) session and never commit."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.catalog import StockReservedV1
from contracts.orders import OrderCancelledV1
from contracts.payments import (
    PaymentFailedV1,
    PaymentFailReason,
    PaymentRefundedV1,
    PaymentSucceededV1,
)
from payments.domain import (
    Charged,
    Declined,
    GiveUpPolicy,
    OrderBusy,
    Payment,
    ProviderUnavailable,
    charge_key,
    needs_settling,
    refund_key,
    too_late_to_charge,
)
from payments.metrics import PAYMENTS, REFUNDS, REVENUE
from payments.provider import PaymentProvider
from payments.repository import PaymentRepository
from servicekit.db import after_commit, statement_time
from servicekit.events import EventContext, TransientError

__all__ = ["OrderPayments", "payments_for_order"]

log = logging.getLogger(__name__)


class OrderPayments:
    """The event handlers that charge and refund orders, built once with the payment
    `provider` and the `give_up` policy (how long a reservation is retried while the provider
    gives no answer). Its methods are registered as they are (payments.consumers)."""

    def __init__(self, provider: PaymentProvider, give_up: GiveUpPolicy) -> None:
        self._provider = provider
        self._give_up = give_up

    async def charge_reserved_order(
        self, session: AsyncSession, event: StockReservedV1, context: EventContext
    ) -> None:
        """Charge the order's total once and record the outcome with its event.

        The payment row (one per order), its outcome and the `payments.payment.succeeded.v1`
        or `.failed.v1` event commit together with the consumer's inbox row. Every attempt
        charges with the order's own Idempotency-Key, so an attempt whose commit failed, a
        redelivery or a second reservation event for the order finds the provider's first
        charge again instead of charging twice. A declined card is final. While the provider
        gives no answer the event is retried (TransientError: in place, then through the retry
        topics) until the give-up policy says to stop; then the payment fails with reason
        `provider_unavailable`.
        """
        repository = PaymentRepository(session)
        with _retried_while_busy(event.order_id):
            payment, clock = await repository.add_once(
                Payment.pending(
                    order_id=event.order_id,
                    user_id=event.user_id,
                    amount_cents=event.total_cents,
                    currency=event.currency,
                    payment_method=event.payment_method,
                    at=datetime.now(UTC),
                )
            )
        if payment.status != "pending":
            log.info(
                "the order is already paid or failed: %s",
                payment.status,
                extra={"order_id": event.order_id},
            )
            return
        # The order's deadline was stamped by the database's clock; compare it with that clock
        # (read after the order's lock was taken), not this replica's (servicekit.db.clock).
        if too_late_to_charge(event.deadline_at, clock, self._give_up.deadline_margin_s):
            # No event: orders cancels the order at its deadline (reason timeout) by itself.
            await repository.mark_failed(payment.id, reason="order_expired", attempts=0)
            after_commit(session, PAYMENTS.labels("order_expired").inc)
            log.warning(
                "not charging: the order's deadline has passed or is too close",
                extra={"order_id": payment.order_id, "deadline_at": str(event.deadline_at)},
            )
            return
        try:
            outcome = await self._provider.charge(
                idempotency_key=charge_key(payment.order_id),
                amount_cents=payment.amount_cents,
                currency=payment.currency,
                payment_method=payment.payment_method,
                reference=payment.order_id,
            )
        except ProviderUnavailable as error:
            # reserved_at is catalog's stamp of the database's time: the same clock decides.
            if not self._give_up.gives_up(
                event.reserved_at, await statement_time(session), context.attempt
            ):
                raise TransientError(f"the payment provider is unavailable: {error}") from error
            log.warning(
                "giving up on the payment provider after %d attempts: %s",
                context.attempt,
                error,
                extra={"order_id": payment.order_id},
            )
            await _fail(session, payment, "provider_unavailable", context)
            return
        # Settled payments are stamped by the database's clock as their outcome is written.
        if isinstance(outcome, Declined):
            await _fail(session, payment, outcome.reason, context)
            return
        await _succeed(session, payment, outcome, context)

    async def refund_cancelled_order(
        self, session: AsyncSession, event: OrderCancelledV1, context: EventContext
    ) -> None:
        """Give back what a cancelled order was charged, once.

        A succeeded payment (a charge that succeeded late, after the order's deadline cancelled
        it) is refunded. A payment that failed without an answer (`provider_unavailable`), or as
        `order_expired` after attempts whose answers were lost, may still have been charged: the
        charge made under the order's key is looked up, and refunded if it exists, else the payment
        records that nothing was charged. The refund's Idempotency-Key is
        derived from the payment, so a retry or a redelivered cancellation refunds once; the order
        lock makes a charge still in flight finish first. While the provider gives no answer the
        event is retried (TransientError), and ends in the dead-letter topic if it never does.
        """
        repository = PaymentRepository(session)
        with _retried_while_busy(event.order_id):
            await repository.lock_order(event.order_id)
        found = await repository.for_order(event.order_id)
        if not found or not needs_settling(found[0]):
            return  # never charged (declined, not reserved) or already settled
        payment = found[0]
        try:
            charge_id = payment.charge_id
            if payment.status == "failed":
                charge_id = await self._provider.succeeded_charge(
                    idempotency_key=charge_key(payment.order_id)
                )
            if charge_id is None:
                await repository.mark_nothing_charged(payment.id, at=datetime.now(UTC))
                after_commit(session, REFUNDS.labels("nothing_charged").inc)
                log.info("nothing was charged", extra={"order_id": payment.order_id})
                return
            refund_id = await self._provider.refund(
                idempotency_key=refund_key(payment.id), charge_id=charge_id
            )
        except ProviderUnavailable as error:
            REFUNDS.labels("provider_unavailable").inc()
            raise TransientError(f"could not refund at the payment provider: {error}") from error
        at = datetime.now(UTC)
        refunded = await repository.mark_refunded(payment.id, refund_id=refund_id, at=at)
        await context.outbox.append(
            session,
            PaymentRefundedV1(
                payment_id=refunded.id,
                order_id=refunded.order_id,
                user_id=refunded.user_id,
                amount_cents=refunded.amount_cents,
                currency=refunded.currency,
                charge_id=charge_id,
                refund_id=refund_id,
                refunded_at=at,
            ),
        )
        after_commit(session, REFUNDS.labels("refunded").inc)
        log.info(
            "refunded a cancelled order's charge",
            extra={
                "payment_id": refunded.id,
                "order_id": refunded.order_id,
                "refund_id": refund_id,
            },
        )


async def _succeed(
    session: AsyncSession,
    payment: Payment,
    charged: Charged,
    context: EventContext,
) -> None:
    settled = await PaymentRepository(session).mark_succeeded(
        payment.id, charge_id=charged.charge_id, attempts=context.attempt
    )
    await context.outbox.append(
        session,
        PaymentSucceededV1(
            payment_id=settled.id,
            order_id=settled.order_id,
            user_id=settled.user_id,
            amount_cents=settled.amount_cents,
            currency=settled.currency,
            charge_id=charged.charge_id,
            succeeded_at=settled.updated_at,
        ),
    )

    def count() -> None:
        PAYMENTS.labels("succeeded").inc()
        REVENUE.labels(settled.currency).inc(settled.amount_cents)

    after_commit(session, count)
    log.info(
        "payment succeeded",
        extra={
            "payment_id": settled.id,
            "order_id": settled.order_id,
            "charge_id": charged.charge_id,
        },
    )


async def _fail(
    session: AsyncSession,
    payment: Payment,
    reason: PaymentFailReason,
    context: EventContext,
) -> None:
    settled = await PaymentRepository(session).mark_failed(
        payment.id, reason=reason, attempts=context.attempt
    )
    await context.outbox.append(
        session,
        PaymentFailedV1(
            payment_id=settled.id,
            order_id=settled.order_id,
            user_id=settled.user_id,
            amount_cents=settled.amount_cents,
            currency=settled.currency,
            reason=reason,
            failed_at=settled.updated_at,
        ),
    )
    after_commit(session, PAYMENTS.labels(reason).inc)
    log.info(
        "payment failed: %s",
        reason,
        extra={"payment_id": settled.id, "order_id": settled.order_id},
    )


@contextmanager
def _retried_while_busy(order_id: str) -> Iterator[None]:
    """Another delivery holds the order past the lock timeout: retry the event later."""
    try:
        yield
    except OrderBusy as error:
        raise TransientError(f"the order {order_id} is busy (a charge in flight)") from error


async def payments_for_order(
    session: AsyncSession, order_id: str, *, user_id: str | None
) -> list[Payment]:
    """The order's payments; only those of `user_id` unless it is None (an admin)."""
    found = await PaymentRepository(session).for_order(order_id)
    return [payment for payment in found if user_id is None or payment.user_id == user_id]
