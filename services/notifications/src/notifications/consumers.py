"""Which event runs which handler: the registry the event consumer dispatches through.

The group reads `identity.user` and `orders.order`; an order's placement is not a customer
email, so it is not registered and the consumer skips (and counts) it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import UserRegisteredV1
from contracts.orders import OrderCancelledV1, OrderConfirmedV1, OrderRejectedV1
from notifications.handlers import email_order_outcome, welcome_new_user
from notifications.mailer import Mailer
from servicekit.db import Database
from servicekit.events import EventContext, HandlerRegistry

__all__ = ["CONSUMER_GROUP", "build_registry"]

CONSUMER_GROUP = "notifications"


def build_registry(mailer: Mailer, message_id_domain: str, database: Database) -> HandlerRegistry:
    """`database` commits each email's `sending` claim before it is sent (handlers.py)."""
    registry = HandlerRegistry()

    @registry.on(UserRegisteredV1)
    async def on_user_registered(
        session: AsyncSession, event: UserRegisteredV1, context: EventContext
    ) -> None:
        await welcome_new_user(session, database, mailer, message_id_domain, event, context)

    @registry.on(OrderConfirmedV1)
    async def on_order_confirmed(
        session: AsyncSession, event: OrderConfirmedV1, context: EventContext
    ) -> None:
        await email_order_outcome(session, database, mailer, message_id_domain, event, context)

    @registry.on(OrderCancelledV1)
    async def on_order_cancelled(
        session: AsyncSession, event: OrderCancelledV1, context: EventContext
    ) -> None:
        await email_order_outcome(session, database, mailer, message_id_domain, event, context)

    @registry.on(OrderRejectedV1)
    async def on_order_rejected(
        session: AsyncSession, event: OrderRejectedV1, context: EventContext
    ) -> None:
        await email_order_outcome(session, database, mailer, message_id_domain, event, context)

    return registry
