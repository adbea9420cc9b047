"""Which event runs which handler: the registry the event consumer dispatches through.

The group reads catalog's `catalog.stock` and payments' `payments.payment`; the event types it
has no handler for there (`catalog.stock.released.v1`) are skipped and counted by servicekit.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.catalog import StockRejectedV1, StockReservedV1
from contracts.payments import PaymentFailedV1, PaymentSucceededV1
from orders.handlers import (
    on_payment_failed,
    on_payment_succeeded,
    on_stock_rejected,
    on_stock_reserved,
)
from servicekit.events import EventContext, HandlerRegistry

__all__ = ["CONSUMER_GROUP", "TOPICS", "build_registry"]

CONSUMER_GROUP = "orders"
TOPICS = (StockReservedV1.TOPIC, PaymentSucceededV1.TOPIC)


def build_registry() -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.on(StockReservedV1)
    async def stock_reserved(
        session: AsyncSession, event: StockReservedV1, context: EventContext
    ) -> None:
        await on_stock_reserved(session, context.outbox, event)

    @registry.on(StockRejectedV1)
    async def stock_rejected(
        session: AsyncSession, event: StockRejectedV1, context: EventContext
    ) -> None:
        await on_stock_rejected(session, context.outbox, event)

    @registry.on(PaymentSucceededV1)
    async def payment_succeeded(
        session: AsyncSession, event: PaymentSucceededV1, context: EventContext
    ) -> None:
        await on_payment_succeeded(session, context.outbox, event)

    @registry.on(PaymentFailedV1)
    async def payment_failed(
        session: AsyncSession, event: PaymentFailedV1, context: EventContext
    ) -> None:
        await on_payment_failed(session, context.outbox, event)

    return registry
