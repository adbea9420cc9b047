"""Which event runs which handler, and the consumer that dispatches through them.

The group (deploy/topics.yaml) reads catalog's `catalog.stock` and orders' `orders.order`; the
other event types on them are skipped and counted by servicekit.
"""

from __future__ import annotations

from contracts.catalog import StockReservedV1
from contracts.orders import OrderCancelledV1
from contracts.topology import ConsumerGroup, load_topology
from payments.domain import GiveUpPolicy
from payments.handlers import OrderPayments
from payments.provider import PaymentProvider
from payments.settings import PaymentsSettings
from servicekit.db import Database
from servicekit.events import EventConsumer, HandlerRegistry, Outbox

__all__ = ["CONSUMER_GROUP", "build_consumer", "build_registry"]

CONSUMER_GROUP = "payments"


def build_registry(payments: OrderPayments) -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.on(StockReservedV1)(payments.charge_reserved_order)
    registry.on(OrderCancelledV1)(payments.refund_cancelled_order)
    return registry


def build_consumer(
    settings: PaymentsSettings,
    database: Database,
    outbox: Outbox,
    provider: PaymentProvider,
    *,
    group: ConsumerGroup | None = None,
) -> EventConsumer:
    """The consumer of the topic file's `payments` group; tests pass a `group` of their own
    (`ConsumerGroup.declare`: a scratch topic, short retry delays). The give-up policy counts
    the group's retry tiers, so the last attempt fails the payment instead of dead-lettering
    it."""
    group = group or load_topology().group(CONSUMER_GROUP)
    give_up = GiveUpPolicy.for_consumer(
        settings.payment_give_up_s,
        group.retry_delays_s,
        settings.consumer_in_place_attempts,
        settings.payment_deadline_margin_s,
    )
    return EventConsumer.for_group(
        group,
        build_registry(OrderPayments(provider, give_up)),
        database=database,
        outbox=outbox,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        security=settings.kafka_security(),
        in_place_attempts=settings.consumer_in_place_attempts,
        max_concurrency=settings.consumer_max_concurrency,
        # A charge is a call outside the transaction: in a batch, one neighbour's failure would
        # roll back and repeat every other charge (safe, thanks to the key, but wasted), and a
        # slow provider would hold the whole batch's transaction open.
        max_batch_size=1,
    )
