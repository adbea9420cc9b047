"""orders' use cases. They take the request's or the consumer's session and never commit.

Every change of an order and the event announcing it commit together (the outbox). A saga
event is applied to the order under its row lock, so the consumers and the sweeper move one
order one step at a time; an event that does not fit the order's state changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Event
from contracts.catalog import StockRejectedV1, StockReservedV1
from contracts.orders import (
    CancelReason,
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderPlacedV1,
    OrderRejectedV1,
)
from contracts.payments import PaymentFailedV1, PaymentSucceededV1
from contracts.values import OrderLine as OrderLineValue
from orders import metrics
from orders.domain import (
    HistoryEntry,
    Order,
    OrderStatus,
    ProductPrice,
    RequestedLine,
    TransitionRefused,
    Trigger,
    cancel_reason_for_payment,
    price_order,
    steps,
)
from orders.repository import OrderRepository
from servicekit import new_id
from servicekit.db import transaction_time
from servicekit.events import EventContext, Outbox

__all__ = [
    "CAUSE_DEADLINE",
    "CAUSE_PLACED",
    "PriceSource",
    "cancel_overdue_orders",
    "get_order",
    "list_orders",
    "on_payment_failed",
    "on_payment_succeeded",
    "on_stock_rejected",
    "on_stock_reserved",
    "place_order",
]

log = logging.getLogger(__name__)

CAUSE_PLACED = "placed"
CAUSE_DEADLINE = "deadline_passed"


class PriceSource(Protocol):
    async def prices(self, product_ids: Sequence[str]) -> Mapping[str, ProductPrice | None]:
        """Each product's current price, None for a product the catalog does not have."""


# -- placing and reading orders -----------------------------------------------------------------


async def place_order(
    session: AsyncSession,
    outbox: Outbox,
    prices: PriceSource,
    *,
    user_id: str,
    email: str,
    lines: Sequence[RequestedLine],
    payment_method: str,
    deadline_s: float,
) -> Order:
    """Price the lines at the catalog's current prices and accept the order (PENDING).

    Raises UnknownProducts, MixedCurrencies or TotalTooLarge; a catalog that cannot answer
    raises its problem (503). The catalog is asked before the first SQL statement, so no
    database connection is held while it answers. The order and `orders.order.placed.v1`
    commit together.
    """
    priced = price_order(lines, await prices.prices([line.product_id for line in lines]))
    # Stamped with the database's clock, not this replica's: the sweeper of any replica, and
    # payments, compare the deadline with the database's clock too (servicekit.db.clock).
    order = await OrderRepository(session).place(
        order_id=new_id("ord"),
        user_id=user_id,
        email=email,
        priced=priced,
        payment_method=payment_method,
        deadline_s=deadline_s,
        cause=CAUSE_PLACED,
    )
    await outbox.append(
        session,
        OrderPlacedV1(
            order_id=order.id,
            user_id=order.user_id,
            email=order.email,
            items=[
                OrderLineValue(
                    product_id=line.product_id,
                    quantity=line.quantity,
                    unit_price_cents=line.unit_price_cents,
                )
                for line in order.lines
            ],
            total_cents=order.total_cents,
            currency=order.currency,
            payment_method=order.payment_method,
            placed_at=order.created_at,
            deadline_at=order.deadline_at,
        ),
    )
    metrics.count_outcome(session, "placed")
    log.info("order placed", extra={"order_id": order.id, "user_id": user_id})
    return order


async def get_order(session: AsyncSession, order_id: str, user_id: str) -> Order | None:
    """The order if it exists and belongs to `user_id`; None otherwise (the same answer, so
    another user's order ids cannot be probed)."""
    order = await OrderRepository(session).get(order_id)
    return order if order is not None and order.user_id == user_id else None


async def list_orders(
    session: AsyncSession, user_id: str, *, limit: int, before_id: str | None
) -> tuple[list[Order], str | None]:
    """A page of the user's orders, newest first, and the id to continue before (None on the
    last page)."""
    page = await OrderRepository(session).page_for_user(
        user_id, limit=limit + 1, before_id=before_id
    )
    if len(page) > limit:
        return page[:limit], page[limit - 1].id
    return page, None


# -- the saga's events --------------------------------------------------------------------------


async def on_stock_reserved(
    session: AsyncSession, event: StockReservedV1, context: EventContext
) -> None:
    await _apply(session, event.order_id, Trigger.STOCK_RESERVED, event.EVENT_TYPE)


async def on_stock_rejected(
    session: AsyncSession, event: StockRejectedV1, context: EventContext
) -> None:
    order = await _apply(
        session,
        event.order_id,
        Trigger.STOCK_REJECTED,
        event.EVENT_TYPE,
        reason=event.shortfalls[0].reason,
    )
    if order is not None:
        await context.outbox.append(
            session,
            OrderRejectedV1(
                order_id=order.id,
                user_id=order.user_id,
                email=order.email,
                shortfalls=list(event.shortfalls),
                rejected_at=order.updated_at,
            ),
        )


async def on_payment_succeeded(
    session: AsyncSession, event: PaymentSucceededV1, context: EventContext
) -> None:
    order = await _apply(session, event.order_id, Trigger.PAYMENT_SUCCEEDED, event.EVENT_TYPE)
    if order is not None:
        await context.outbox.append(
            session,
            OrderConfirmedV1(
                order_id=order.id,
                user_id=order.user_id,
                email=order.email,
                total_cents=order.total_cents,
                currency=order.currency,
                confirmed_at=order.updated_at,
            ),
        )


async def on_payment_failed(
    session: AsyncSession, event: PaymentFailedV1, context: EventContext
) -> None:
    reason = cancel_reason_for_payment(event.reason)
    order = await _apply(
        session, event.order_id, Trigger.PAYMENT_FAILED, event.EVENT_TYPE, reason=reason
    )
    if order is not None:
        await context.outbox.append(session, _cancelled(order, reason))


async def cancel_overdue_orders(session: AsyncSession, outbox: Outbox, *, limit: int) -> int:
    """Cancel (reason `timeout`) up to `limit` open orders past their deadline by the
    database's clock, each with `orders.order.cancelled.v1` so that catalog releases what it
    reserved; returns how many. Orders locked by another transaction are left for the next
    round."""
    repository = OrderRepository(session)
    overdue = await repository.lock_overdue(limit)
    if not overdue:
        return 0
    now = await transaction_time(session)  # the clock the orders' deadlines were stamped with
    events: list[Event] = []
    for order in overdue:
        cancelled = await _move(
            session, repository, order, now, Trigger.DEADLINE_PASSED, CAUSE_DEADLINE, "timeout"
        )
        events.append(_cancelled(cancelled, "timeout"))
        log.info("order timed out", extra={"order_id": order.id, "status": order.status.value})
    await outbox.append_many(session, events)
    return len(overdue)


# -- moving an order ----------------------------------------------------------------------------


async def _apply(
    session: AsyncSession,
    order_id: str,
    trigger: Trigger,
    event_type: str,
    *,
    reason: str | None = None,
) -> Order | None:
    """Move the order as `trigger` says; the order if it reached a final state by it, None
    when it did not (also when the event did not fit and changed nothing)."""
    repository = OrderRepository(session)
    locked = await repository.lock(order_id)
    if locked is None:
        log.warning("event for an unknown order", extra={"order_id": order_id, "type": event_type})
        metrics.count_ignored(session, event_type, "unknown")
        return None
    order = locked.order
    try:
        moved = await _move(session, repository, order, locked.now, trigger, event_type, reason)
    except TransitionRefused:
        _ignore(session, order, trigger, event_type)
        return None
    return moved if moved.status.is_final else None


async def _move(
    session: AsyncSession,
    repository: OrderRepository,
    order: Order,
    now: datetime,
    trigger: Trigger,
    cause: str,
    reason: str | None,
) -> Order:
    """Take the edges `trigger` allows from the order's status (raises TransitionRefused) and
    record them, stamped `now` (the transaction's now(): the clock the order's deadline was
    stamped with); returns the order as it now is (without re-reading it)."""
    path = steps(order.status, trigger)
    entries = [
        HistoryEntry(step.status, now, f"{cause} (implied reservation)" if step.implied else cause)
        for step in path
    ]
    final = path[-1].status
    await repository.record_transition(order.id, entries, reason=reason if final.is_final else None)
    if final.is_final:
        metrics.count_outcome(session, _OUTCOMES[final], placed_at=order.created_at, final_at=now)
    log.info(
        "order moved",
        extra={"order_id": order.id, "from": order.status.value, "to": final.value, "cause": cause},
    )
    if not final.is_final:
        return replace(order, status=final, updated_at=now)
    return replace(order, status=final, updated_at=now, reason=reason)


_OUTCOMES: Mapping[OrderStatus, metrics.Outcome] = {
    OrderStatus.CONFIRMED: "confirmed",
    OrderStatus.CANCELLED: "cancelled",
    OrderStatus.REJECTED: "rejected",
}


_WILL_NOT_SHIP = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED})


def _ignore(session: AsyncSession, order: Order, trigger: Trigger, event_type: str) -> None:
    state = order.status.value
    if trigger is Trigger.PAYMENT_SUCCEEDED and order.status in _WILL_NOT_SHIP:
        # Charged for an order that will not ship: typically one the sweeper cancelled while
        # its charge was in flight, whose stock catalog has already released. The order stays
        # cancelled (its customer was told so). payments refunds the charge on its own, from
        # the order's OrderCancelled (`refund_cancelled_order`); the metric and this line say
        # how often a charge outran the deadline.
        log.error(
            "payment succeeded for a cancelled order: payments refunds it",
            extra={"order_id": order.id, "reason": order.reason},
        )
        metrics.count_late_payment(session)
    else:
        log.info(
            "event ignored: it does not fit the order's state",
            extra={"order_id": order.id, "type": event_type, "status": state},
        )
    metrics.count_ignored(session, event_type, state)


def _cancelled(order: Order, reason: CancelReason) -> OrderCancelledV1:
    return OrderCancelledV1(
        order_id=order.id,
        user_id=order.user_id,
        email=order.email,
        reason=reason,
        total_cents=order.total_cents,
        currency=order.currency,
        cancelled_at=order.updated_at,
    )
