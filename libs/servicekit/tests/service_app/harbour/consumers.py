from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import UserRegisteredV1
from contracts.orders import OrderPlacedV1
from harbour.settings import HarbourSettings
from servicekit import ServiceContext
from servicekit.events import EventContext, HandlerRegistry


async def greet(session: AsyncSession, event: UserRegisteredV1, context: EventContext) -> None:
    pass


async def load_cargo(session: AsyncSession, event: OrderPlacedV1, context: EventContext) -> None:
    pass


def handlers(context: ServiceContext[HarbourSettings]) -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.on(UserRegisteredV1)(greet)
    return registry


def unsubscribed(context: ServiceContext[HarbourSettings]) -> HandlerRegistry:
    """Also handles `orders.order`, which the manifest's group does not subscribe to."""
    registry = handlers(context)
    registry.on(OrderPlacedV1)(load_cargo)
    return registry


def not_a_registry(context: ServiceContext[HarbourSettings]) -> list[str]:
    return ["identity.user"]
