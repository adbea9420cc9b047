"""Placing an order: its row, lines, history and the database's clock in one statement; reading
it: its row, lines and history in one statement (issue 15: fewer statements per saga step); and
a locked order that is as new as the lock, history included."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text

from orders.domain import HistoryEntry, OrderStatus, RequestedLine
from orders.handlers import CAUSE_PLACED, place_order
from orders.repository import LockedOrder, OrderRepository
from servicekit.db import Database, transaction_time
from servicekit.events.outbox import Outbox
from servicekit.ids import new_id
from servicekit.testing.events import eventually
from servicekit.testing.statements import statements_sent

from .conftest import FixedPrices, PlaceOrder


async def test_an_order_is_placed_with_its_lines_history_and_clock_in_one_statement(
    database: Database,
) -> None:
    """The order's statement stamps it with the transaction's now(); its event is the other
    statement. What place_order returns is what a read finds."""
    user, mug, tea = new_id("usr"), new_id("prd"), new_id("prd")
    async with database.transaction() as session:
        async with statements_sent(session) as placing:
            placed = await place_order(
                session,
                Outbox("orders"),
                FixedPrices(),
                user_id=user,
                email=f"{user}@example.com",
                lines=[RequestedLine(mug, 2), RequestedLine(tea, 1)],
                payment_method="pm_card_visa",
                deadline_s=90.5,
            )
        now = await transaction_time(session)
    assert len(placing) == 2
    assert [statement.split()[0] for statement in placing] == ["WITH", "INSERT"]
    assert placed.created_at == placed.updated_at == now
    assert placed.history == (HistoryEntry(OrderStatus.PENDING, now, CAUSE_PLACED),)
    assert placed.deadline_at == now + timedelta(seconds=90.5)
    assert [(line.product_id, line.quantity) for line in placed.lines] == [(mug, 2), (tea, 1)]
    async with database.reads() as session:
        assert await OrderRepository(session).get(placed.id) == placed


async def test_an_order_is_read_with_its_lines_and_history_in_one_statement(
    database: Database, place: PlaceOrder
) -> None:
    """Also when it is locked, and the lock reads the transaction's time along with it."""
    placed = await place()
    async with database.transaction() as session:
        repository = OrderRepository(session)
        async with statements_sent(session) as reading:
            found = await repository.get(placed.id)
        async with statements_sent(session) as locking:
            locked = await repository.lock(placed.id)
        assert locked is not None
        assert locked.now == await transaction_time(session)
    assert found == placed
    assert locked.order == placed
    assert (len(reading), len(locking)) == (1, 1)


async def test_a_lock_that_waited_for_a_move_reads_the_history_that_move_wrote(
    database: Database, place: PlaceOrder
) -> None:
    """The row is re-read once the lock is granted; the history must be just as new, although
    the waiting statement's snapshot was taken before the move committed."""
    placed = await place()
    async with database.transaction() as mover:
        repository = OrderRepository(mover)
        assert await repository.lock(placed.id) is not None
        moved_at = await transaction_time(mover)
        await repository.record_transition(
            placed.id, [HistoryEntry(OrderStatus.AWAITING_PAYMENT, moved_at, "test")]
        )
        waiter = asyncio.create_task(_lock_in_a_transaction_of_its_own(database, placed.id))
        await eventually(lambda: _someone_waits_for_a_lock(database), what="a lock wait")
    locked = await waiter
    assert locked is not None
    assert locked.order.status is OrderStatus.AWAITING_PAYMENT
    assert locked.order.history == (
        *placed.history,
        HistoryEntry(OrderStatus.AWAITING_PAYMENT, moved_at, "test"),
    )


async def _lock_in_a_transaction_of_its_own(
    database: Database, order_id: str
) -> LockedOrder | None:
    async with database.transaction() as session:
        return await OrderRepository(session).lock(order_id)


async def _someone_waits_for_a_lock(database: Database) -> bool:
    async with database.transaction() as session:
        waiting = await session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
        return bool(waiting.scalar_one())
