"""Which event runs which handler: the registry the event consumer dispatches through.

catalog's group (deploy/topics.yaml) reads `orders.order`; the order's other events (confirmed,
rejected) are not catalog's business and are skipped (and counted) by the consumer.
"""

from __future__ import annotations

from catalog.handlers import release_stock, reserve_stock
from contracts.orders import OrderCancelledV1, OrderPlacedV1
from servicekit.events import HandlerRegistry

__all__ = ["CONSUMER_GROUP", "build_registry"]

CONSUMER_GROUP = "catalog"


def build_registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.on(OrderPlacedV1)(reserve_stock)
    registry.on(OrderCancelledV1)(release_stock)
    return registry
