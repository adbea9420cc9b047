"""Which event runs which handler: the registry the event consumer dispatches through.

The group (deploy/topics.yaml) reads `identity.user` and `orders.order`; an order's placement
is not a customer email, so it is not registered and the consumer skips (and counts) it.
"""

from __future__ import annotations

from contracts.identity import UserRegisteredV1
from contracts.orders import OrderCancelledV1, OrderConfirmedV1, OrderRejectedV1
from notifications.handlers import Emails
from servicekit.events import HandlerRegistry

__all__ = ["CONSUMER_GROUP", "build_registry"]

CONSUMER_GROUP = "notifications"


def build_registry(emails: Emails) -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.on(UserRegisteredV1)(emails.welcome_new_user)
    registry.on(OrderConfirmedV1)(emails.email_order_outcome)
    registry.on(OrderCancelledV1)(emails.email_order_outcome)
    registry.on(OrderRejectedV1)(emails.email_order_outcome)
    return registry
