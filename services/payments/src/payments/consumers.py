"""Which event runs which handler, and the consumer that dispatches through them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.catalog import StockReservedV1
from contracts.orders import OrderCancelledV1
from payments.domain import GiveUpPolicy
from payments.handlers import charge_reserved_order, refund_cancelled_order
from payments.provider import PaymentProvider
from payments.settings import PaymentsSettings
from servicekit.db import Database
from servicekit.events import EventConsumer, EventContext, HandlerRegistry, Outbox

__all__ = ["CONSUMER_GROUP", "build_consumer", "build_registry"]

CONSUMER_GROUP = "payments"


def build_registry(provider: PaymentProvider, give_up: GiveUpPolicy) -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.on(StockReservedV1)
    async def on_stock_reserved(
        session: AsyncSession, event: StockReservedV1, context: EventContext
    ) -> None:
        await charge_reserved_order(session, provider, give_up, event, context)

    @registry.on(OrderCancelledV1)
    async def on_order_cancelled(
        session: AsyncSession, event: OrderCancelledV1, context: EventContext
    ) -> None:
        await refund_cancelled_order(session, provider, event, context)

    return registry


def build_consumer(
    settings: PaymentsSettings,
    database: Database,
    outbox: Outbox,
    provider: PaymentProvider,
    *,
    group: str = CONSUMER_GROUP,
    topics: Sequence[str] = (StockReservedV1.TOPIC, OrderCancelledV1.TOPIC),
) -> EventConsumer:
    """The group consumes catalog's stock stream and orders' order stream (other types on them
    are skipped). Tests pass a group and topics of their own."""
    give_up = GiveUpPolicy.for_consumer(
        settings.payment_give_up_s,
        settings.consumer_retry_delays_s,
        settings.consumer_in_place_attempts,
        settings.payment_deadline_margin_s,
    )
    return EventConsumer(
        group=group,
        topics=topics,
        registry=build_registry(provider, give_up),
        database=database,
        outbox=outbox,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        security=settings.kafka_security(),
        retry_delays_s=settings.consumer_retry_delays_s,
        in_place_attempts=settings.consumer_in_place_attempts,
        max_concurrency=settings.consumer_max_concurrency,
        # A charge is a call outside the transaction: in a batch, one neighbour's failure would
        # roll back and repeat every other charge (safe, thanks to the key, but wasted), and a
        # slow provider would hold the whole batch's transaction open.
        max_batch_size=1,
    )
