"""Item 9 of the hardening issue: an order's deadline is the database's time, not the placing
replica's. Replicas (and payments) used to compare their own wall clocks, with a 5 s margin
for the drift between them; now the deadline is stamped with the database's clock and the
sweeper compares it with the same clock, in the statement that picks the overdue orders."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import literal_column, update

from orders.domain import RequestedLine
from orders.handlers import place_order
from orders.repository import OrderRepository
from orders.tables import orders
from servicekit.db.clock import transaction_time
from servicekit.db.engine import Database
from servicekit.events.outbox import Outbox
from servicekit.ids import new_id

from .conftest import FixedPrices


async def test_an_order_s_deadline_is_the_database_s_time_plus_the_allowance(
    database: Database,
) -> None:
    user = new_id("usr")
    async with database.transaction() as session:
        order = await place_order(
            session,
            Outbox("orders"),
            FixedPrices(),
            user_id=user,
            email=f"{user}@example.com",
            lines=[RequestedLine(new_id("prd"), 1)],
            payment_method="pm_card_visa",
            deadline_s=120,
        )
        database_now = await transaction_time(session)
    # Exactly the transaction's now(): no process clock could produce the same instant.
    assert order.created_at == database_now
    assert order.deadline_at == database_now + timedelta(seconds=120)


async def test_overdue_is_decided_by_the_database_s_clock(database: Database) -> None:
    user = new_id("usr")
    async with database.transaction() as session:
        placed = [
            await place_order(
                session,
                Outbox("orders"),
                FixedPrices(),
                user_id=user,
                email=f"{user}@example.com",
                lines=[RequestedLine(new_id("prd"), 1)],
                payment_method="pm_card_visa",
                deadline_s=3_600,
            )
            for _ in range(2)
        ]
    past, future = placed
    async with database.transaction() as session:
        # One deadline a millisecond behind the database's clock, one an hour ahead of it.
        for order, offset in ((past, "-1 millisecond"), (future, "1 hour")):
            await session.execute(
                update(orders)
                .where(orders.c.id == order.id)
                .values(deadline_at=literal_column(f"clock_timestamp() + interval '{offset}'"))
            )
    async with database.transaction() as session:
        overdue = {order.id for order in await OrderRepository(session).lock_overdue(10_000)}
    assert past.id in overdue
    assert future.id not in overdue
