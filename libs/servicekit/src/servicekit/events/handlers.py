"""What a service writes to react to events: one async function per event type, with the one
signature the consumer calls, registered as it is (no adapter in between).

    # handlers.py
    async def reserve_stock(session: AsyncSession, event: OrderPlacedV1, context: EventContext):
        ...  # write state with `session`, publish follow-ups with `context.outbox.append(...)`

    # consumers.py
    registry = HandlerRegistry()
    registry.on(OrderPlacedV1)(reserve_stock)
    registry.on(UserRegisteredV1)(emails.welcome_new_user)  # a method: collaborators on `self`

A handler that needs collaborators (a mailer, a payment provider) is a method of a small class
built with them in the service's `handlers(context)` factory (the one its service.toml names,
servicekit.service_app); the registry takes the bound method.

The handler runs inside the consumer's transaction (inbox row, the handler's writes and any
outbox rows commit together) and never commits. Raise `PermanentError` for an event that can
never succeed (it goes to the dead-letter topic at once); any other exception is treated as
transient and retried (in place, then through the retry topics, then the DLQ).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Event
from servicekit.events.envelope import EventEnvelope
from servicekit.events.outbox import Outbox

__all__ = ["EventContext", "EventHandler", "HandlerRegistry", "PermanentError", "TransientError"]

EventT = TypeVar("EventT", bound=Event)


class PermanentError(Exception):
    """This event can never be handled (bad data, broken invariant): dead-letter it now."""


class TransientError(Exception):
    """Worth retrying later (a dependency is down). Any unclassified exception counts as this."""


@dataclass(frozen=True)
class EventContext:
    envelope: EventEnvelope
    outbox: Outbox
    attempt: int
    """1 for the first delivery; grows through in-place retries and retry topics."""


EventHandler = Callable[[AsyncSession, EventT, EventContext], Awaitable[None]]


@dataclass(frozen=True)
class Registration(Generic[EventT]):
    model: type[EventT]
    handler: EventHandler[EventT]


class HandlerRegistry:
    def __init__(self) -> None:
        self._by_type: dict[str, Registration[Any]] = {}

    def on(self, model: type[EventT]) -> Callable[[EventHandler[EventT]], EventHandler[EventT]]:
        def register(handler: EventHandler[EventT]) -> EventHandler[EventT]:
            if model.EVENT_TYPE in self._by_type:
                raise ValueError(f"a handler for {model.EVENT_TYPE} is already registered")
            self._by_type[model.EVENT_TYPE] = Registration(model, handler)
            return handler

        return register

    def get(self, event_type: str) -> Registration[Any] | None:
        return self._by_type.get(event_type)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._by_type)

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(registration.model.TOPIC for registration in self._by_type.values())
