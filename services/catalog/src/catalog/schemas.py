"""The HTTP contract of catalog (what OpenAPI shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from catalog.domain import MAX_STOCK

__all__ = [
    "NewProduct",
    "ProductChange",
    "ProductOut",
    "ProductPage",
    "ReservationList",
    "ReservationOut",
    "StockLineOut",
]

MAX_PRICE_CENTS = 100_000_000
"""One million in the currency's major unit: a typo guard, not a business rule."""


class NewProduct(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="The stock-keeping unit: letters, digits, `.`, `_`, `-`; unique.",
        examples=["MUG-BLUE-330"],
    )
    name: str = Field(min_length=1, max_length=200, examples=["Blue mug, 330 ml"])
    price_cents: int = Field(ge=0, le=MAX_PRICE_CENTS, description="Price per unit, in cents.")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.", examples=["EUR"])
    stock: int = Field(ge=0, le=MAX_STOCK, description="Units available.")


class ProductChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price_cents: int | None = Field(default=None, ge=0, le=MAX_PRICE_CENTS)
    stock_adjustment: int | None = Field(
        default=None,
        ge=-MAX_STOCK,
        le=MAX_STOCK,
        description="Units to add (positive) or remove (negative); stock never goes below 0.",
    )

    @model_validator(mode="after")
    def _changes_something(self) -> ProductChange:
        if self.price_cents is None and self.stock_adjustment is None:
            raise ValueError("give price_cents, stock_adjustment or both")
        return self


class ProductOut(BaseModel):
    id: str = Field(examples=["prd_01jz3k8w6x9a2b4c5d6e7f8g9h"])
    sku: str
    name: str
    price_cents: int
    currency: str
    stock: int = Field(description="Units available now (reservations already deducted).")
    created_at: datetime
    updated_at: datetime


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class StockLineOut(BaseModel):
    product_id: str
    quantity: int


class ReservationOut(BaseModel):
    order_id: str
    items: list[StockLineOut]
    status: Literal["reserved", "released"]
    reserved_at: datetime
    released_at: datetime | None


class ReservationList(BaseModel):
    items: list[ReservationOut]
