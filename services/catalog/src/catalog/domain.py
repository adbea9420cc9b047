"""Products, their stock and the reservations orders hold on it; the rules, no I/O.

Stock is what can be sold now: a reservation takes its units out of `stock` at once, and a
release puts them back. An order is reserved all or nothing, and catalog decides once per
order: the decision (reserved, rejected, or voided by a cancellation that came first) is kept
per order, so a redelivered or replayed event finds it and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from contracts.values import OrderLine, StockShortfall

__all__ = [
    "MAX_STOCK",
    "InsufficientStock",
    "Product",
    "ProductNotFound",
    "Reservation",
    "ReservationStatus",
    "SkuTaken",
    "StockLimitExceeded",
    "requested_quantities",
    "shortfalls",
]

MAX_STOCK = 1_000_000_000
"""The most units of one product catalog keeps (far below the column's range)."""

ReservationStatus = Literal["reserved", "released", "rejected", "voided"]
"""`rejected`: stock was short, nothing was reserved; `voided`: the order was cancelled before
its placement was handled, so a late placement must not reserve anything."""


@dataclass(frozen=True)
class Product:
    id: str
    sku: str
    name: str
    price_cents: int
    currency: str
    stock: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Reservation:
    order_id: str
    user_id: str
    status: ReservationStatus
    lines: tuple[tuple[str, int], ...]
    """(product id, quantity), by product id; empty unless stock was reserved."""
    reserved_at: datetime | None
    released_at: datetime | None


class SkuTaken(Exception):
    """Another product has this SKU."""


class ProductNotFound(Exception):
    """No product has this id."""


class InsufficientStock(Exception):
    """The adjustment would take the stock below zero."""


class StockLimitExceeded(Exception):
    """The adjustment would take the stock above MAX_STOCK."""


def requested_quantities(lines: Iterable[OrderLine]) -> dict[str, int]:
    """Units per product, in product id order: the order in which rows are locked, so two
    reservations never wait on each other's locks in opposite orders (no deadlock)."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.product_id] = totals.get(line.product_id, 0) + line.quantity
    return dict(sorted(totals.items()))


def shortfalls(
    requested: Mapping[str, int], products: Mapping[str, Product], currency: str
) -> list[StockShortfall]:
    """Every requested product that cannot be reserved, and why; empty when all can."""
    found: list[StockShortfall] = []
    for product_id, quantity in requested.items():
        product = products.get(product_id)
        if product is None:
            found.append(
                StockShortfall(
                    product_id=product_id,
                    reason="unknown_product",
                    requested=quantity,
                    available=0,
                )
            )
        elif product.currency != currency:
            found.append(
                StockShortfall(
                    product_id=product_id,
                    reason="currency_mismatch",
                    requested=quantity,
                    available=product.stock,
                )
            )
        elif product.stock < quantity:
            found.append(
                StockShortfall(
                    product_id=product_id,
                    reason="out_of_stock",
                    requested=quantity,
                    available=product.stock,
                )
            )
    return found
