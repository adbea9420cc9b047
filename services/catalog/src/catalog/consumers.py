"""Which event runs which handler: the registry the event consumer dispatches through.

catalog's group reads `orders.order`; the order's other events (confirmed, rejected) are not
catalog's business and are skipped (and counted) by the consumer.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.handlers import release_stock, reserve_stock
from contracts.orders import OrderCancelledV1, OrderPlacedV1
from servicekit.events import EventContext, HandlerRegistry

__all__ = ["CONSUMER_GROUP", "build_registry"]

CONSUMER_GROUP = "catalog"


def build_registry() -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.on(OrderPlacedV1)
    async def on_order_placed(
        session: AsyncSession, event: OrderPlacedV1, context: EventContext
    ) -> None:
        await reserve_stock(session, context.outbox, event)

    @registry.on(OrderCancelledV1)
    async def on_order_cancelled(
        session: AsyncSession, event: OrderCancelledV1, context: EventContext
    ) -> None:
        await release_stock(session, context.outbox, event)

    return registry
