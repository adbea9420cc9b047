"""What the order emails say: confirmed, cancelled (with the reason in words) and rejected
(with each line that could not be had). Pure functions; ids and amounts come from the events,
never free text, so nothing here needs cleaning. Every line stays within 78 characters for
ids of the shop's length and any everyday amount, so the text goes out as it is written (a
longer line makes the message base64)."""

from __future__ import annotations

from contracts.orders import CancelReason, OrderCancelledV1, OrderConfirmedV1, OrderRejectedV1
from contracts.values import StockShortfall
from notifications.domain import RenderedEmail

__all__ = [
    "ORDER_CANCELLED",
    "ORDER_CONFIRMED",
    "ORDER_REJECTED",
    "format_money",
    "render_order_cancelled",
    "render_order_confirmed",
    "render_order_rejected",
]

ORDER_CONFIRMED = "order_confirmed"
ORDER_CANCELLED = "order_cancelled"
ORDER_REJECTED = "order_rejected"

_SIGNATURE = "— The Flotilla team\n"

# ISO 4217 currencies without minor units; every other one the shop sells in has two.
_NO_MINOR_UNITS = frozenset({"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
                             "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"})  # fmt: skip

_CANCEL_REASONS: dict[CancelReason, str] = {
    "payment_declined": "your payment was declined",
    "insufficient_funds": "your card had insufficient funds",
    "payment_failed": "we could not take your payment",
    "timeout": "it could not be completed in time",
}


def format_money(cents: int, currency: str) -> str:
    """`12.50 EUR`, `1200 JPY`: the amount in the currency's major unit, then its code."""
    if currency in _NO_MINOR_UNITS:
        return f"{cents} {currency}"
    return f"{cents // 100}.{cents % 100:02d} {currency}"


def render_order_confirmed(event: OrderConfirmedV1) -> RenderedEmail:
    body = (
        "Hi,\n"
        "\n"
        f"Your order {event.order_id} is confirmed: we received\n"
        f"your payment of {format_money(event.total_cents, event.currency)}. "
        "Thank you for shopping with us!\n"
        "\n"
        f"{_SIGNATURE}"
    )
    return RenderedEmail(subject=f"Your order {event.order_id} is confirmed", body=body)


def render_order_cancelled(event: OrderCancelledV1) -> RenderedEmail:
    reason = _CANCEL_REASONS[event.reason]
    after = (
        "You can place the order again whenever you like.\n"
        if event.reason == "timeout"
        else "You have not been charged. You can place the order again with another\n"
        "payment method.\n"
    )
    body = (
        "Hi,\n"
        "\n"
        f"We are sorry: your order {event.order_id} "
        f"({format_money(event.total_cents, event.currency)})\n"
        f"was cancelled because {reason}.\n"
        f"{after}"
        "\n"
        f"{_SIGNATURE}"
    )
    return RenderedEmail(subject=f"Your order {event.order_id} was cancelled", body=body)


def render_order_rejected(event: OrderRejectedV1) -> RenderedEmail:
    lines = "".join(f"- {_shortfall(shortfall)}\n" for shortfall in event.shortfalls)
    body = (
        "Hi,\n"
        "\n"
        "We are sorry: we could not accept your order\n"
        f"{event.order_id}, because of these items:\n"
        "\n"
        f"{lines}"
        "\n"
        "Nothing was reserved and you have not been charged.\n"
        "\n"
        f"{_SIGNATURE}"
    )
    return RenderedEmail(subject=f"Your order {event.order_id} could not be accepted", body=body)


def _shortfall(shortfall: StockShortfall) -> str:
    product = f"product {shortfall.product_id}"
    if shortfall.reason == "unknown_product":
        return f"{product}: it is not in our catalog"
    if shortfall.reason == "currency_mismatch":
        return f"{product}: it is not sold in this currency"
    if shortfall.available == 0:
        return f"{product}: out of stock (you asked for {shortfall.requested})"
    return f"{product}: only {shortfall.available} left (you asked for {shortfall.requested})"
