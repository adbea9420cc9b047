"""Orders and the order saga's state machine (docs/architecture.md); no I/O here.

    PENDING ─stock reserved─► AWAITING_PAYMENT ─payment succeeded─► CONFIRMED
    PENDING ─stock rejected─► REJECTED
    AWAITING_PAYMENT ─payment failed─► CANCELLED
    PENDING | AWAITING_PAYMENT ─deadline passed─► CANCELLED (timeout)

Anything else is refused (`TransitionRefused`): a late, duplicate or out-of-order event
changes nothing.

One ordering cannot be prevented: reservations and payments travel on different topics, so
orders may hear that a payment succeeded (or failed) before it hears of the reservation the
payment was made for. Payments charges only after a reservation, so a payment outcome for a
PENDING order *implies* that reservation: `steps` walks both edges, the reservation first,
and the reservation event that arrives later finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from contracts.orders import CancelReason
from contracts.payments import PaymentFailReason

__all__ = [
    "EDGES",
    "MAX_LINES",
    "MAX_QUANTITY",
    "MAX_TOTAL_CENTS",
    "HistoryEntry",
    "MixedCurrencies",
    "Order",
    "OrderLine",
    "OrderStatus",
    "PricedOrder",
    "ProductPrice",
    "RequestedLine",
    "Step",
    "TotalTooLarge",
    "TransitionRefused",
    "Trigger",
    "UnknownProducts",
    "cancel_reason_for_payment",
    "next_status",
    "price_order",
    "steps",
]

MAX_LINES = 50
MAX_QUANTITY = 1000
MAX_TOTAL_CENTS = 2**63 - 1
"""What the total column (a Postgres bigint) holds."""


class OrderStatus(StrEnum):
    PENDING = "pending"
    AWAITING_PAYMENT = "awaiting_payment"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED, OrderStatus.REJECTED})


class Trigger(StrEnum):
    """What moves an order: an event of another service, or its deadline passing."""

    STOCK_RESERVED = "stock_reserved"
    STOCK_REJECTED = "stock_rejected"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    DEADLINE_PASSED = "deadline_passed"


EDGES: Mapping[tuple[OrderStatus, Trigger], OrderStatus] = {
    (OrderStatus.PENDING, Trigger.STOCK_RESERVED): OrderStatus.AWAITING_PAYMENT,
    (OrderStatus.PENDING, Trigger.STOCK_REJECTED): OrderStatus.REJECTED,
    (OrderStatus.AWAITING_PAYMENT, Trigger.PAYMENT_SUCCEEDED): OrderStatus.CONFIRMED,
    (OrderStatus.AWAITING_PAYMENT, Trigger.PAYMENT_FAILED): OrderStatus.CANCELLED,
    (OrderStatus.PENDING, Trigger.DEADLINE_PASSED): OrderStatus.CANCELLED,
    (OrderStatus.AWAITING_PAYMENT, Trigger.DEADLINE_PASSED): OrderStatus.CANCELLED,
}
"""Every allowed transition; nothing leaves a final state."""

# A payment outcome proves the reservation it was charged for.
_IMPLIES = {
    Trigger.PAYMENT_SUCCEEDED: Trigger.STOCK_RESERVED,
    Trigger.PAYMENT_FAILED: Trigger.STOCK_RESERVED,
}


class TransitionRefused(Exception):
    """`trigger` does not apply to an order in `status`."""

    def __init__(self, status: OrderStatus, trigger: Trigger) -> None:
        super().__init__(f"{trigger} does not apply to an order that is {status}")
        self.status = status
        self.trigger = trigger


def next_status(status: OrderStatus, trigger: Trigger) -> OrderStatus:
    """The one edge `trigger` takes from `status`; raises TransitionRefused when none does."""
    try:
        return EDGES[(status, trigger)]
    except KeyError:
        raise TransitionRefused(status, trigger) from None


@dataclass(frozen=True)
class Step:
    status: OrderStatus
    """The status the order enters."""
    trigger: Trigger
    implied: bool = False
    """Taken because a later event proves it happened, before that event's own step."""


def steps(status: OrderStatus, trigger: Trigger) -> tuple[Step, ...]:
    """The edges `trigger` moves an order in `status` along, in order (one, or the implied
    reservation and then the payment's); raises TransitionRefused when it moves nothing."""
    try:
        return (Step(next_status(status, trigger), trigger),)
    except TransitionRefused:
        implied = _IMPLIES.get(trigger)
        if implied is None or (status, implied) not in EDGES:
            raise
    middle = next_status(status, implied)
    return (Step(middle, implied, implied=True), Step(next_status(middle, trigger), trigger))


def cancel_reason_for_payment(failure: PaymentFailReason) -> CancelReason:
    """Why the order is cancelled, in the customer's terms, from why the payment failed."""
    if failure == "declined":
        return "payment_declined"
    if failure == "insufficient_funds":
        return "insufficient_funds"
    return "payment_failed"


@dataclass(frozen=True)
class OrderLine:
    product_id: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class HistoryEntry:
    status: OrderStatus
    at: datetime
    cause: str
    """What moved the order: `placed`, the event type, or `deadline_passed`."""


@dataclass(frozen=True)
class Order:
    id: str
    user_id: str
    email: str
    status: OrderStatus
    lines: tuple[OrderLine, ...]
    total_cents: int
    currency: str
    payment_method: str
    reason: str | None
    created_at: datetime
    updated_at: datetime
    deadline_at: datetime
    history: tuple[HistoryEntry, ...]


# -- pricing a new order ----------------------------------------------------------------------


@dataclass(frozen=True)
class RequestedLine:
    product_id: str
    quantity: int


@dataclass(frozen=True)
class ProductPrice:
    product_id: str
    price_cents: int
    currency: str


@dataclass(frozen=True)
class PricedOrder:
    lines: tuple[OrderLine, ...]
    total_cents: int
    currency: str


class UnknownProducts(Exception):
    def __init__(self, product_ids: Sequence[str]) -> None:
        super().__init__(f"unknown products: {', '.join(product_ids)}")
        self.product_ids = tuple(product_ids)


class MixedCurrencies(Exception):
    def __init__(self, currencies: Sequence[str]) -> None:
        super().__init__(f"the products are priced in several currencies: {', '.join(currencies)}")
        self.currencies = tuple(currencies)


class TotalTooLarge(Exception):
    pass


def price_order(
    lines: Sequence[RequestedLine], prices: Mapping[str, ProductPrice | None]
) -> PricedOrder:
    """The order's lines at the catalog's current prices, and its total. Raises UnknownProducts
    (naming every product the catalog does not have), MixedCurrencies or TotalTooLarge."""
    unknown = [line.product_id for line in lines if prices.get(line.product_id) is None]
    if unknown:
        raise UnknownProducts(unknown)
    priced = [(line, prices[line.product_id]) for line in lines]
    currencies = sorted({price.currency for _, price in priced if price is not None})
    if len(currencies) != 1:
        raise MixedCurrencies(currencies)
    order_lines = tuple(
        OrderLine(line.product_id, line.quantity, price.price_cents)
        for line, price in priced
        if price is not None
    )
    total = sum(line.quantity * line.unit_price_cents for line in order_lines)
    if total > MAX_TOTAL_CENTS:
        raise TotalTooLarge
    return PricedOrder(order_lines, total, currencies[0])
