"""Events published by payments on `payments.payment`: the outcome of charging an order."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from contracts.base import Event
from contracts.values import Currency

__all__ = ["PaymentFailReason", "PaymentFailedV1", "PaymentRefundedV1", "PaymentSucceededV1"]

PaymentFailReason = Literal["declined", "insufficient_funds", "provider_unavailable"]


class PaymentSucceededV1(Event):
    """An order's total was charged at the payment provider."""

    EVENT_TYPE: ClassVar[str] = "payments.payment.succeeded.v1"
    TOPIC: ClassVar[str] = "payments.payment"
    SUBJECT_FIELD: ClassVar[str] = "payment_id"

    payment_id: str = Field(description="The payment's id (`pay_…`).")
    order_id: str = Field(description="The order paid for (`ord_…`).")
    user_id: str = Field(description="The customer's id (`usr_…`).")
    amount_cents: int = Field(ge=0, description="The amount charged, in cents.")
    currency: Currency = Field(description="The currency of the amount.")
    charge_id: str = Field(description="The provider's charge id (`ch_…`).")
    succeeded_at: datetime = Field(description="When the charge succeeded (UTC).")


class PaymentFailedV1(Event):
    """An order's total could not be charged; payments has given up on it."""

    EVENT_TYPE: ClassVar[str] = "payments.payment.failed.v1"
    TOPIC: ClassVar[str] = "payments.payment"
    SUBJECT_FIELD: ClassVar[str] = "payment_id"

    payment_id: str = Field(description="The payment's id (`pay_…`).")
    order_id: str = Field(description="The order it was for (`ord_…`).")
    user_id: str = Field(description="The customer's id (`usr_…`).")
    amount_cents: int = Field(ge=0, description="The amount that was to be charged, in cents.")
    currency: Currency = Field(description="The currency of the amount.")
    reason: PaymentFailReason = Field(
        description="`declined` or `insufficient_funds` (the provider refused the card) or "
        "`provider_unavailable` (the provider could not be reached within the retries)."
    )
    failed_at: datetime = Field(description="When payments gave up (UTC).")


class PaymentRefundedV1(Event):
    """An order's charge was refunded in full at the payment provider, because the order was
    cancelled after (or while) it was charged."""

    EVENT_TYPE: ClassVar[str] = "payments.payment.refunded.v1"
    TOPIC: ClassVar[str] = "payments.payment"
    SUBJECT_FIELD: ClassVar[str] = "payment_id"

    payment_id: str = Field(description="The payment's id (`pay_…`).")
    order_id: str = Field(description="The cancelled order (`ord_…`).")
    user_id: str = Field(description="The customer's id (`usr_…`).")
    amount_cents: int = Field(ge=0, description="The amount given back, in cents.")
    currency: Currency = Field(description="The currency of the amount.")
    charge_id: str = Field(description="The provider's refunded charge (`ch_…`).")
    refund_id: str = Field(description="The provider's refund (`re_…`).")
    refunded_at: datetime = Field(description="When the refund succeeded (UTC).")
