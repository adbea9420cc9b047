"""Events published by catalog on `catalog.stock`: reservations of stock for orders."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from contracts.base import Event
from contracts.values import Currency, StockLine, StockShortfall

__all__ = ["StockRejectedV1", "StockReleasedV1", "StockReservedV1"]


class StockReservedV1(Event):
    """Every line of an order is reserved. Carries what payments needs to charge for it."""

    EVENT_TYPE: ClassVar[str] = "catalog.stock.reserved.v1"
    TOPIC: ClassVar[str] = "catalog.stock"
    SUBJECT_FIELD: ClassVar[str] = "order_id"

    order_id: str = Field(description="The order the stock is reserved for (`ord_…`).")
    user_id: str = Field(description="The customer's id (`usr_…`), from the placed order.")
    items: list[StockLine] = Field(min_length=1, description="The units reserved, per product.")
    total_cents: int = Field(ge=0, description="The order's total to charge, in cents.")
    currency: Currency = Field(description="The currency of the total.")
    payment_method: str = Field(description="The payment method the order is to be charged with.")
    reserved_at: datetime = Field(description="When the stock was reserved (UTC).")
    deadline_at: datetime | None = Field(
        default=None,
        description="The order's deadline, from the placed order: past it the order is "
        "cancelled, so it must not be charged any more.",
    )


class StockRejectedV1(Event):
    """An order's stock could not be reserved (all or nothing: nothing is reserved)."""

    EVENT_TYPE: ClassVar[str] = "catalog.stock.rejected.v1"
    TOPIC: ClassVar[str] = "catalog.stock"
    SUBJECT_FIELD: ClassVar[str] = "order_id"

    order_id: str = Field(description="The order that was not reserved (`ord_…`).")
    user_id: str = Field(description="The customer's id (`usr_…`), from the placed order.")
    shortfalls: list[StockShortfall] = Field(
        min_length=1, description="Each line that could not be reserved, and why."
    )
    rejected_at: datetime = Field(description="When the reservation was refused (UTC).")


class StockReleasedV1(Event):
    """An order's reservation was given back to stock (the order was cancelled)."""

    EVENT_TYPE: ClassVar[str] = "catalog.stock.released.v1"
    TOPIC: ClassVar[str] = "catalog.stock"
    SUBJECT_FIELD: ClassVar[str] = "order_id"

    order_id: str = Field(description="The order whose reservation was released (`ord_…`).")
    items: list[StockLine] = Field(min_length=1, description="The units returned, per product.")
    released_at: datetime = Field(description="When the stock was released (UTC).")
