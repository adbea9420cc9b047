"""Events published by orders on `orders.order`: the saga's order, from placed to final."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from contracts.base import Event
from contracts.values import Currency, OrderLine, StockShortfall

__all__ = [
    "CancelReason",
    "OrderCancelledV1",
    "OrderConfirmedV1",
    "OrderPlacedV1",
    "OrderRejectedV1",
]

CancelReason = Literal["payment_declined", "insufficient_funds", "payment_failed", "timeout"]


class OrderPlacedV1(Event):
    """A customer placed an order; catalog is to reserve its stock before the deadline."""

    EVENT_TYPE: ClassVar[str] = "orders.order.placed.v1"
    TOPIC: ClassVar[str] = "orders.order"
    SUBJECT_FIELD: ClassVar[str] = "order_id"

    order_id: str = Field(description="The order's id (`ord_…`).")
    user_id: str = Field(description="The customer's id (`usr_…`).")
    email: str = Field(description="The customer's email address, for the order's emails.")
    items: list[OrderLine] = Field(
        min_length=1, description="The ordered lines, one per product, with the prices used."
    )
    total_cents: int = Field(ge=0, description="The sum of quantity times unit price.")
    currency: Currency = Field(description="The currency of every price and the total.")
    payment_method: str = Field(
        description="The payment method to charge, e.g. `pm_card_visa` (a psp method id)."
    )
    placed_at: datetime = Field(description="When the order was accepted (UTC).")
    deadline_at: datetime = Field(
        description="When the order is cancelled (reason `timeout`) unless it is final by then."
    )


class OrderConfirmedV1(Event):
    """An order was paid and its stock is reserved: final and successful."""

    EVENT_TYPE: ClassVar[str] = "orders.order.confirmed.v1"
    TOPIC: ClassVar[str] = "orders.order"
    SUBJECT_FIELD: ClassVar[str] = "order_id"

    order_id: str = Field(description="The order's id (`ord_…`).")
    user_id: str = Field(description="The customer's id (`usr_…`).")
    email: str = Field(description="The customer's email address.")
    total_cents: int = Field(ge=0, description="The amount paid, in cents.")
    currency: Currency = Field(description="The currency of the total.")
    confirmed_at: datetime = Field(description="When the order was confirmed (UTC).")


class OrderCancelledV1(Event):
    """An order was cancelled after its stock may have been reserved: catalog releases it."""

    EVENT_TYPE: ClassVar[str] = "orders.order.cancelled.v1"
    TOPIC: ClassVar[str] = "orders.order"
    SUBJECT_FIELD: ClassVar[str] = "order_id"

    order_id: str = Field(description="The order's id (`ord_…`).")
    user_id: str = Field(description="The customer's id (`usr_…`).")
    email: str = Field(description="The customer's email address.")
    reason: CancelReason = Field(
        description="`payment_declined`, `insufficient_funds` or `payment_failed` (the payment "
        "did not succeed) or `timeout` (no final state before the order's deadline)."
    )
    total_cents: int = Field(ge=0, description="The order's total, in cents.")
    currency: Currency = Field(description="The currency of the total.")
    cancelled_at: datetime = Field(description="When the order was cancelled (UTC).")


class OrderRejectedV1(Event):
    """An order could not be fulfilled from stock: nothing was reserved or charged."""

    EVENT_TYPE: ClassVar[str] = "orders.order.rejected.v1"
    TOPIC: ClassVar[str] = "orders.order"
    SUBJECT_FIELD: ClassVar[str] = "order_id"

    order_id: str = Field(description="The order's id (`ord_…`).")
    user_id: str = Field(description="The customer's id (`usr_…`).")
    email: str = Field(description="The customer's email address.")
    shortfalls: list[StockShortfall] = Field(
        min_length=1, description="Each line that could not be reserved, and why."
    )
    rejected_at: datetime = Field(description="When the order was rejected (UTC).")
