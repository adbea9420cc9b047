"""Which event runs which handler: the registry the event consumer dispatches through.

catalog's group (service.toml's `[consumer]`) reads `orders.order`; the order's other events
(confirmed, rejected) are not catalog's business and are skipped (and counted) by the consumer.
"""

from __future__ import annotations

from catalog.handlers import release_stock, reserve_stock
from catalog.settings import CatalogSettings
from contracts.orders import OrderCancelledV1, OrderPlacedV1
from servicekit import ServiceContext
from servicekit.events import HandlerRegistry

__all__ = ["build_registry", "handlers"]


def handlers(context: ServiceContext[CatalogSettings]) -> HandlerRegistry:
    """The registry service.toml's `[consumer]` names; the handlers need no collaborators."""
    return build_registry()


def build_registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.on(OrderPlacedV1)(reserve_stock)
    registry.on(OrderCancelledV1)(release_stock)
    return registry
