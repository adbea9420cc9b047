"""Payments and the rules about them; no I/O here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from contracts.payments import PaymentFailReason
from servicekit import new_id

__all__ = [
    "Charged",
    "Declined",
    "FailReason",
    "GiveUpPolicy",
    "OrderBusy",
    "Payment",
    "PaymentStatus",
    "ProviderUnavailable",
    "RefundStatus",
    "charge_key",
    "needs_settling",
    "refund_key",
]

PaymentStatus = Literal["pending", "succeeded", "failed", "refunded"]
RefundStatus = Literal["refunded", "nothing_charged"]
"""What the order's cancellation found: the charge was refunded, or (for a payment whose
outcome was unknown, `provider_unavailable`) the provider had charged nothing."""
DeclineReason = Literal["declined", "insufficient_funds"]
FailReason = PaymentFailReason | Literal["order_expired"]
"""Why a payment failed: the published reasons, plus `order_expired`, which is not published —
the order's own deadline has cancelled (or is about to cancel) it."""


@dataclass(frozen=True)
class Payment:
    id: str
    order_id: str
    user_id: str
    amount_cents: int
    currency: str
    payment_method: str
    status: PaymentStatus
    reason: FailReason | None
    charge_id: str | None
    attempts: int
    """Charge attempts it took to reach the status (1 when the first one settled it)."""
    created_at: datetime
    updated_at: datetime
    refund_status: RefundStatus | None = None
    refund_id: str | None = None
    refunded_at: datetime | None = None

    @classmethod
    def pending(
        cls,
        *,
        order_id: str,
        user_id: str,
        amount_cents: int,
        currency: str,
        payment_method: str,
        at: datetime,
    ) -> Payment:
        """An order's new payment, not charged yet."""
        return cls(
            id=new_id("pay"),
            order_id=order_id,
            user_id=user_id,
            amount_cents=amount_cents,
            currency=currency,
            payment_method=payment_method,
            status="pending",
            reason=None,
            charge_id=None,
            attempts=0,
            created_at=at,
            updated_at=at,
        )


@dataclass(frozen=True)
class Charged:
    charge_id: str


@dataclass(frozen=True)
class Declined:
    reason: DeclineReason


class OrderBusy(Exception):
    """Another transaction holds the order (a charge still in flight) past the lock timeout."""


class ProviderUnavailable(Exception):
    """The provider could not say yes or no: unreachable, failing, too slow, breaker open."""


def too_late_to_charge(deadline_at: datetime | None, now: datetime, margin_s: float) -> bool:
    """Past (or within `margin_s` of) the order's deadline the order is cancelled by orders'
    sweeper: a charge then would take money for an order that does not exist any more."""
    return deadline_at is not None and (deadline_at - now).total_seconds() <= margin_s


def charge_key(order_id: str) -> str:
    """The provider's Idempotency-Key for an order's charge: every attempt to charge the order,
    from any replica and any redelivery, is the same charge."""
    return f"order-{order_id}"


def refund_key(payment_id: str) -> str:
    """The provider's Idempotency-Key for refunding a payment's charge: every attempt, from any
    replica and any redelivered cancellation, is the same refund."""
    return f"refund-{payment_id}"


def needs_settling(payment: Payment) -> bool:
    """Whether a cancelled order's payment may still hold money at the provider: it succeeded,
    or it failed without knowing what the provider did and was not yet looked into — without an
    answer (`provider_unavailable`), or as `order_expired`, which an earlier attempt may precede
    whose charge went through while its answer was lost and its transaction rolled back."""
    if payment.refund_status is not None:
        return False
    return payment.status == "succeeded" or (
        payment.status == "failed" and payment.reason in ("provider_unavailable", "order_expired")
    )


@dataclass(frozen=True)
class GiveUpPolicy:
    """When a charge the provider could not answer is failed (`provider_unavailable`) instead
    of retried, so the saga ends: once the reservation is `give_up_s` old, and in any case at
    the consumer's last attempt, which would otherwise send the event to the dead-letter topic.
    """

    give_up_s: float
    last_attempt: int
    deadline_margin_s: float = 5.0
    """No charge is attempted this close to the order's deadline (see `too_late_to_charge`)."""

    @classmethod
    def for_consumer(
        cls,
        give_up_s: float,
        retry_delays_s: Sequence[float],
        in_place_attempts: int,
        deadline_margin_s: float = 5.0,
    ) -> GiveUpPolicy:
        """Every tier (the first delivery, then each retry topic) makes `in_place_attempts`."""
        return cls(give_up_s, in_place_attempts * (1 + len(retry_delays_s)), deadline_margin_s)

    def gives_up(self, reserved_at: datetime, now: datetime, attempt: int) -> bool:
        if reserved_at.tzinfo is None:  # a producer that left out the offset meant UTC
            reserved_at = reserved_at.replace(tzinfo=UTC)
        return (now - reserved_at).total_seconds() >= self.give_up_s or attempt >= self.last_attempt
