"""Which event runs which handler: the registry the event consumer dispatches through.

The group (deploy/topics.yaml) reads catalog's `catalog.stock` and payments' `payments.payment`;
the event types it has no handler for there (`catalog.stock.released.v1`) are skipped and
counted by servicekit.
"""

from __future__ import annotations

from contracts.catalog import StockRejectedV1, StockReservedV1
from contracts.payments import PaymentFailedV1, PaymentSucceededV1
from orders.handlers import (
    on_payment_failed,
    on_payment_succeeded,
    on_stock_rejected,
    on_stock_reserved,
)
from servicekit.events import HandlerRegistry

__all__ = ["CONSUMER_GROUP", "build_registry"]

CONSUMER_GROUP = "orders"


def build_registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.on(StockReservedV1)(on_stock_reserved)
    registry.on(StockRejectedV1)(on_stock_rejected)
    registry.on(PaymentSucceededV1)(on_payment_succeeded)
    registry.on(PaymentFailedV1)(on_payment_failed)
    return registry
