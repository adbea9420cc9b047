"""Which event runs which handler: the registry the event consumer dispatches through.

The group (service.toml's `[consumer]`) reads catalog's `catalog.stock` and orders'
`orders.order`; the other event types on them are skipped and counted by servicekit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from contracts.catalog import StockReservedV1
from contracts.orders import OrderCancelledV1
from payments.domain import GiveUpPolicy
from payments.handlers import OrderPayments
from payments.provider import PaymentProvider, PspProvider
from payments.settings import PaymentsSettings
from servicekit import ServiceContext
from servicekit.events import HandlerRegistry

__all__ = ["build_registry", "handlers"]

log = logging.getLogger(__name__)


def handlers(context: ServiceContext[PaymentsSettings]) -> HandlerRegistry:
    """The registry service.toml's `[consumer]` names: charges and refunds at the `psp`
    downstream, giving up after the group's retry tiers (`consumer.retry`)."""
    settings = context.settings
    declared = context.manifest.consumer
    retry_delays_s = tuple(declared.retry.delays_s) if declared and declared.retry else ()
    if sum(retry_delays_s) < settings.payment_give_up_s:
        log.warning(
            "the retry delays (%s s) end before PAYMENT_GIVE_UP_S (%s s): while the provider "
            "is down, payments fail at the consumer's last attempt, before the give-up time",
            sum(retry_delays_s),
            settings.payment_give_up_s,
        )
    provider = PspProvider(context.downstream["psp"], settings.psp_api_key)
    return build_registry(settings, provider, retry_delays_s)


def build_registry(
    settings: PaymentsSettings, provider: PaymentProvider, retry_delays_s: Sequence[float]
) -> HandlerRegistry:
    """`retry_delays_s` are the consuming group's: the give-up policy counts its retry tiers,
    so the last attempt fails the payment instead of dead-lettering it. Tests pass their own
    group's (a scratch topic, short delays)."""
    give_up = GiveUpPolicy.for_consumer(
        settings.payment_give_up_s,
        retry_delays_s,
        settings.consumer_in_place_attempts,
        settings.payment_deadline_margin_s,
    )
    payments = OrderPayments(provider, give_up)
    registry = HandlerRegistry()
    registry.on(StockReservedV1)(payments.charge_reserved_order)
    registry.on(OrderCancelledV1)(payments.refund_cancelled_order)
    return registry
