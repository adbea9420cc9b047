"""Every published event type, by its CloudEvents `type`."""

from __future__ import annotations

from contracts.base import Event
from contracts.identity import UserRegisteredV1

__all__ = ["EVENT_TYPES", "event_model"]

EVENT_TYPES: dict[str, type[Event]] = {model.EVENT_TYPE: model for model in (UserRegisteredV1,)}


def event_model(event_type: str) -> type[Event] | None:
    return EVENT_TYPES.get(event_type)
