"""Which event runs which handler: the registry the event consumer dispatches through.

The group (service.toml's `[consumer]`) reads catalog's `catalog.stock` and payments'
`payments.payment`; the event types it has no handler for there (`catalog.stock.released.v1`)
are skipped and counted by servicekit.
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
from orders.settings import OrdersSettings
from servicekit import ServiceContext
from servicekit.events import HandlerRegistry

__all__ = ["build_registry", "handlers"]


def handlers(context: ServiceContext[OrdersSettings]) -> HandlerRegistry:
    """The registry service.toml's `[consumer]` names; the handlers need no collaborators."""
    return build_registry()


def build_registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.on(StockReservedV1)(on_stock_reserved)
    registry.on(StockRejectedV1)(on_stock_rejected)
    registry.on(PaymentSucceededV1)(on_payment_succeeded)
    registry.on(PaymentFailedV1)(on_payment_failed)
    return registry
