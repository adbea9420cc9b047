"""Value types that several events carry: order lines, stock lines and stock shortfalls.

They live here, not in one producer's module, because the saga passes them along: an order's
lines become the stock lines catalog reserves, and catalog's shortfalls reappear in the order's
rejection. Like events they are closed in the published schema and tolerant when read.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Currency",
    "OrderLine",
    "ShortfallReason",
    "StockLine",
    "StockShortfall",
]

Currency = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 currency code, upper case, e.g. `EUR`.",
    ),
]

ShortfallReason = Literal["out_of_stock", "unknown_product", "currency_mismatch"]


class _Value(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        json_schema_extra={"additionalProperties": False},
    )


class OrderLine(_Value):
    """One line of an order: a product, how many, and the unit price the order was placed at."""

    product_id: str = Field(description="The product's id (`prd_…`).")
    quantity: int = Field(ge=1, description="How many units were ordered.")
    unit_price_cents: int = Field(
        ge=0, description="The product's price per unit when the order was placed, in cents."
    )


class StockLine(_Value):
    """A quantity of one product, reserved for or released from an order."""

    product_id: str = Field(description="The product's id (`prd_…`).")
    quantity: int = Field(ge=1, description="How many units.")


class StockShortfall(_Value):
    """Why one line of an order could not be reserved."""

    product_id: str = Field(description="The product's id as the order named it.")
    reason: ShortfallReason = Field(
        description="`out_of_stock`: fewer units available than requested; `unknown_product`: "
        "no such product; `currency_mismatch`: the product is priced in another currency "
        "than the order."
    )
    requested: int = Field(ge=1, description="How many units the order asked for.")
    available: int = Field(
        ge=0, description="How many units were available when the order was checked (0 if none)."
    )
