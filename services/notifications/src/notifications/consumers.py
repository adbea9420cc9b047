"""Which event runs which handler: the registry the event consumer dispatches through."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import UserRegisteredV1
from notifications.handlers import welcome_new_user
from notifications.mailer import Mailer
from servicekit.events.handlers import EventContext, HandlerRegistry

__all__ = ["CONSUMER_GROUP", "build_registry"]

CONSUMER_GROUP = "notifications"


def build_registry(mailer: Mailer, message_id_domain: str) -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.on(UserRegisteredV1)
    async def on_user_registered(
        session: AsyncSession, event: UserRegisteredV1, context: EventContext
    ) -> None:
        await welcome_new_user(session, mailer, message_id_domain, event, context)

    return registry
