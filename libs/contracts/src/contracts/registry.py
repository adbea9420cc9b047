"""Every published event type, by its CloudEvents `type`.

A new event type or major version is added here; `python -m contracts generate` then writes its
JSON Schema and the AsyncAPI document.
"""

from __future__ import annotations

from collections.abc import Iterable

from contracts.base import Event
from contracts.catalog import StockRejectedV1, StockReleasedV1, StockReservedV1
from contracts.identity import UserRegisteredV1
from contracts.notifications import NotificationSentV1
from contracts.orders import OrderCancelledV1, OrderConfirmedV1, OrderPlacedV1, OrderRejectedV1
from contracts.payments import PaymentFailedV1, PaymentRefundedV1, PaymentSucceededV1

__all__ = ["EVENT_TYPES", "TOPIC_OWNERS", "event_model", "type_owner"]


def _by_type(models: Iterable[type[Event]]) -> dict[str, type[Event]]:
    registered: dict[str, type[Event]] = {}
    for model in models:
        if model.EVENT_TYPE in registered:
            raise ValueError(f"event type {model.EVENT_TYPE!r} is registered twice")
        registered[model.EVENT_TYPE] = model
    return registered


EVENT_TYPES: dict[str, type[Event]] = _by_type(
    (
        UserRegisteredV1,
        NotificationSentV1,
        OrderPlacedV1,
        OrderConfirmedV1,
        OrderCancelledV1,
        OrderRejectedV1,
        StockReservedV1,
        StockRejectedV1,
        StockReleasedV1,
        PaymentSucceededV1,
        PaymentFailedV1,
        PaymentRefundedV1,
    )
)


def event_model(event_type: str) -> type[Event] | None:
    return EVENT_TYPES.get(event_type)


def type_owner(event_type: str) -> str:
    """The service an event type belongs to: its prefix (`payments.payment.succeeded.v1` →
    `payments`), whether or not the type is registered."""
    return event_type.split(".", 1)[0]


# Each event's topic and the service that publishes on it. `registry_problems` (CI) checks
# that every TOPIC is declared in deploy/topics.yaml with its producer as owner, so this is the
# topic file's ownership, available where the file is not (a service's image).
TOPIC_OWNERS: dict[str, str] = {model.TOPIC: model.producer() for model in EVENT_TYPES.values()}
