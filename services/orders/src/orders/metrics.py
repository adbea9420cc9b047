"""orders' business metrics, defined once. Each is recorded only when the transaction that made
the change commits (`servicekit.db.after_commit`): a consumer batch that is rolled back and
handled again record by record counts once."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import after_commit

__all__ = [
    "IGNORED_EVENTS",
    "LATE_PAYMENTS",
    "ORDERS",
    "OVERDUE_OLDEST_AGE",
    "OVERDUE_ORDERS",
    "TIME_TO_FINAL",
    "Outcome",
    "count_ignored",
    "count_late_payment",
    "count_outcome",
]

Outcome = Literal["placed", "confirmed", "cancelled", "rejected"]

ORDERS = Counter(
    "flotilla_orders_total",
    "Orders by outcome: placed, then one of confirmed, cancelled or rejected.",
    ["outcome"],
)
TIME_TO_FINAL = Histogram(
    "flotilla_order_time_to_final_seconds",
    "From placing an order to its final state (confirmed, cancelled or rejected).",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0),
)
IGNORED_EVENTS = Counter(
    "flotilla_orders_ignored_events_total",
    "Saga events that did not fit the order's state (late, duplicate or out of order; state "
    "`unknown` when no such order exists) and changed nothing.",
    ["event_type", "state"],
)
LATE_PAYMENTS = Counter(
    "flotilla_orders_late_payments_total",
    "Payments that succeeded for an order already cancelled (e.g. by its deadline): money was "
    "taken for an order that will not ship, which payments refunds on the order's cancellation.",
)

OVERDUE_ORDERS = Gauge(
    "flotilla_orders_overdue",
    "Open orders past their deadline, measured after each sweeper round: the sweeper cancels "
    "them, so more than a moment above 0 means orders are stuck.",
)
OVERDUE_OLDEST_AGE = Gauge(
    "flotilla_orders_overdue_oldest_seconds",
    "How long the most overdue open order is past its deadline (0 when none), after each "
    "sweeper round.",
)


def count_outcome(
    session: AsyncSession,
    outcome: Outcome,
    *,
    placed_at: datetime | None = None,
    final_at: datetime | None = None,
) -> None:
    """Count an order reaching `outcome`; a final one also observes its time from placement."""

    def record() -> None:
        ORDERS.labels(outcome).inc()
        if placed_at is not None and final_at is not None:
            TIME_TO_FINAL.observe(max(0.0, (final_at - placed_at).total_seconds()))

    after_commit(session, record)


def count_ignored(session: AsyncSession, event_type: str, state: str) -> None:
    after_commit(session, lambda: IGNORED_EVENTS.labels(event_type, state).inc())


def count_late_payment(session: AsyncSession) -> None:
    after_commit(session, LATE_PAYMENTS.inc)
