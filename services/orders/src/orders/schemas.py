"""The HTTP contract of orders (what OpenAPI shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from orders.domain import MAX_LINES, MAX_QUANTITY
from servicekit import is_id

__all__ = ["HistoryOut", "NewOrder", "NewOrderLine", "OrderAccepted", "OrderOut", "OrderPage"]

Status = Literal["pending", "awaiting_payment", "confirmed", "cancelled", "rejected"]


def _product_id(value: str) -> str:
    if not is_id(value, "prd"):
        raise ValueError("must be a product id (`prd_…`)")
    return value


ProductId = Annotated[
    str,
    Field(max_length=40, examples=["prd_01jz3k8w6x9a2b4c5d6e7f8g9h"]),
    AfterValidator(_product_id),
]


class NewOrderLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ProductId
    quantity: int = Field(strict=True, ge=1, le=MAX_QUANTITY)


class NewOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[NewOrderLine] = Field(
        min_length=1, max_length=MAX_LINES, description="One line per product."
    )
    payment_method: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_-]+$",
        examples=["pm_card_visa"],
        description="The payment provider's method to charge once the stock is reserved.",
    )

    @field_validator("items")
    @classmethod
    def _one_line_per_product(cls, items: list[NewOrderLine]) -> list[NewOrderLine]:
        seen: set[str] = set()
        for line in items:
            if line.product_id in seen:
                raise ValueError(f"{line.product_id} is on more than one line")
            seen.add(line.product_id)
        return items


class OrderAccepted(BaseModel):
    id: str = Field(examples=["ord_01jz3k8w6x9a2b4c5d6e7f8g9h"])
    status: Literal["pending"] = "pending"


class OrderLineOut(BaseModel):
    product_id: str
    quantity: int
    unit_price_cents: int = Field(description="The price per unit when the order was placed.")


class HistoryOut(BaseModel):
    status: Status
    at: datetime
    cause: str = Field(
        description="What moved the order: `placed`, the event's type (e.g. "
        "`catalog.stock.reserved.v1`), or `deadline_passed`."
    )


class OrderOut(BaseModel):
    id: str = Field(examples=["ord_01jz3k8w6x9a2b4c5d6e7f8g9h"])
    status: Status
    items: list[OrderLineOut]
    total_cents: int
    currency: str = Field(examples=["EUR"])
    payment_method: str
    reason: str | None = Field(
        description="Why a cancelled or rejected order ended so: `payment_declined`, "
        "`insufficient_funds`, `payment_failed`, `timeout`; `out_of_stock`, `unknown_product`, "
        "`currency_mismatch`. Null otherwise."
    )
    created_at: datetime
    updated_at: datetime
    deadline_at: datetime = Field(
        description="An order not final by then is cancelled (reason `timeout`)."
    )
    history: list[HistoryOut] = Field(description="Every status the order entered, oldest first.")


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )
