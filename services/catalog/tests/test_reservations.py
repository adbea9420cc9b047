"""Reserving and releasing stock for orders, in the consumer's transaction, on real Postgres.

Each delivery runs the registered handler in a transaction of its own, as the event consumer
does; the events it publishes are read back from the outbox.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from catalog.consumers import build_registry
from catalog.domain import Product
from catalog.handlers import change_product, create_product, get_product, reservation_for
from catalog.repository import ReservationRepository
from contracts.base import Event
from contracts.catalog import StockRejectedV1, StockReleasedV1, StockReservedV1
from contracts.orders import CancelReason, OrderCancelledV1, OrderPlacedV1
from contracts.values import OrderLine
from servicekit import new_id
from servicekit.db import Database, transaction_time
from servicekit.events import OUTBOX, Outbox
from servicekit.testing import event_context
from servicekit.testing.statements import statements_sent


async def _product(
    database: Database, stock: int, *, currency: str = "EUR", price_cents: int = 1000
) -> Product:
    async with database.transaction() as session:
        return await create_product(
            session,
            sku=f"SKU-{new_id('prd')[-12:]}",
            name="Thing",
            price_cents=price_cents,
            currency=currency,
            stock=stock,
        )


async def _stock(database: Database, product: Product) -> int:
    async with database.transaction() as session:
        current = await get_product(session, product.id)
    assert current is not None
    return current.stock


def _placed(*lines: tuple[Product | str, int], currency: str = "EUR") -> OrderPlacedV1:
    items = [
        OrderLine(
            product_id=p if isinstance(p, str) else p.id,
            quantity=q,
            unit_price_cents=0 if isinstance(p, str) else p.price_cents,
        )
        for p, q in lines
    ]
    now = datetime.now(UTC)
    return OrderPlacedV1(
        order_id=new_id("ord"),
        user_id=new_id("usr"),
        email="ann@example.com",
        items=items,
        total_cents=sum(line.quantity * line.unit_price_cents for line in items),
        currency=currency,
        payment_method="pm_card_visa",
        placed_at=now,
        deadline_at=now + timedelta(minutes=2),
    )


def _cancelled(
    placed: OrderPlacedV1, reason: CancelReason = "payment_declined"
) -> OrderCancelledV1:
    return OrderCancelledV1(
        order_id=placed.order_id,
        user_id=placed.user_id,
        email=placed.email,
        reason=reason,
        total_cents=placed.total_cents,
        currency=placed.currency,
        cancelled_at=datetime.now(UTC),
    )


async def _deliver(database: Database, event: Event) -> None:
    """One delivery, with an event id of its own (as a re-published event would have)."""
    registration = build_registry().get(event.EVENT_TYPE)
    assert registration is not None
    context = event_context(event, Outbox("catalog"), source="/orders")
    async with database.transaction() as session:
        await registration.handler(session, event, context)


async def _published(database: Database, order_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The events catalog appended about `order_id`, oldest first: (type, payload)."""
    async with database.transaction() as session:
        rows = await session.execute(
            select(OUTBOX.c.event_type, OUTBOX.c.payload, OUTBOX.c.topic)
            .where(OUTBOX.c.key == order_id)
            .order_by(OUTBOX.c.id)
        )
        published = []
        for row in rows:
            assert row.topic == "catalog.stock"
            published.append((row.event_type, json.loads(row.payload)))
        return published


async def test_an_order_is_reserved_whole_and_its_event_carries_the_orders_payment(
    database: Database,
) -> None:
    mug, tee = await _product(database, 5), await _product(database, 2)
    placed = _placed((mug, 2), (tee, 2))
    await _deliver(database, placed)

    assert (await _stock(database, mug), await _stock(database, tee)) == (3, 0)
    [(event_type, payload)] = await _published(database, placed.order_id)
    assert event_type == "catalog.stock.reserved.v1"
    reserved = StockReservedV1.model_validate(payload)
    assert (reserved.order_id, reserved.user_id) == (placed.order_id, placed.user_id)
    assert sorted((line.product_id, line.quantity) for line in reserved.items) == sorted(
        [(mug.id, 2), (tee.id, 2)]
    )
    assert (reserved.total_cents, reserved.currency, reserved.payment_method) == (
        placed.total_cents,
        "EUR",
        "pm_card_visa",
    )
    async with database.transaction() as session:
        reservation = await reservation_for(session, placed.order_id)
    assert reservation is not None
    assert reservation.status == "reserved"


async def test_a_reservation_takes_four_statements_whatever_its_lines(database: Database) -> None:
    """The decision read, the products' lock, the reservation with its lines and their units
    taken out of stock (one statement), and its event."""
    mug, tee, cap = [await _product(database, 5) for _ in range(3)]
    placed = _placed((mug, 1), (tee, 2), (cap, 3))
    registration = build_registry().get(placed.EVENT_TYPE)
    assert registration is not None
    context = event_context(placed, Outbox("catalog"), source="/orders")
    async with database.transaction() as session, statements_sent(session) as reserving:
        await registration.handler(session, placed, context)

    assert [statement.split()[0] for statement in reserving] == [
        "SELECT",
        "SELECT",
        "WITH",
        "INSERT",
    ]
    assert [await _stock(database, product) for product in (mug, tee, cap)] == [4, 3, 2]
    async with database.transaction() as session:
        reservation = await reservation_for(session, placed.order_id)
    assert reservation is not None
    assert reservation.lines == tuple(sorted([(mug.id, 1), (tee.id, 2), (cap.id, 3)]))


async def test_one_placement_delivered_several_times_at_once_is_reserved_once(
    database: Database,
) -> None:
    """Each delivery reads the order undecided; the first to record it takes the stock, and
    the others, let through the products' locks after it, record and take nothing."""
    product = await _product(database, 5)
    placed = _placed((product, 2))
    await asyncio.gather(*(_deliver(database, placed) for _ in range(5)))

    assert await _stock(database, product) == 3
    assert [t for t, _ in await _published(database, placed.order_id)] == [
        "catalog.stock.reserved.v1"
    ]
    async with database.transaction() as session:
        reservation = await reservation_for(session, placed.order_id)
    assert reservation is not None
    assert reservation.lines == ((product.id, 2),)


async def test_a_decision_is_stamped_with_the_transactions_time_on_the_databases_clock(
    database: Database,
) -> None:
    """payments measures its give-up window from reserved_at with the database's clock, so the
    reservation, its row and its event carry the transaction's now(), whatever this process's
    clock says."""
    mug = await _product(database, 5)
    placed, unknown = _placed((mug, 1)), _placed(("prd_unknown", 1))
    for event in (placed, unknown):
        registration = build_registry().get(event.EVENT_TYPE)
        assert registration is not None
        context = event_context(event, Outbox("catalog"), source="/orders")
        async with database.transaction() as session:
            await registration.handler(session, event, context)
            transaction_started = await transaction_time(session)

        [(_, payload)] = await _published(database, event.order_id)
        if event is placed:
            reserved = StockReservedV1.model_validate(payload)
            assert reserved.reserved_at == transaction_started
            async with database.transaction() as session:
                reservation = await reservation_for(session, placed.order_id)
            assert reservation is not None
            assert reservation.reserved_at == transaction_started
        else:
            rejected = StockRejectedV1.model_validate(payload)
            assert rejected.rejected_at == transaction_started


async def test_one_short_line_rejects_the_whole_order_and_reserves_nothing(
    database: Database,
) -> None:
    plenty, scarce = await _product(database, 10), await _product(database, 1)
    placed = _placed((plenty, 3), (scarce, 2))
    await _deliver(database, placed)

    assert (await _stock(database, plenty), await _stock(database, scarce)) == (10, 1)
    [(event_type, payload)] = await _published(database, placed.order_id)
    assert event_type == "catalog.stock.rejected.v1"
    rejected = StockRejectedV1.model_validate(payload)
    assert (rejected.order_id, rejected.user_id) == (placed.order_id, placed.user_id)
    assert [s.model_dump() for s in rejected.shortfalls] == [
        {"product_id": scarce.id, "reason": "out_of_stock", "requested": 2, "available": 1}
    ]
    async with database.transaction() as session:
        assert await reservation_for(session, placed.order_id) is None


async def test_every_failing_line_is_named_with_its_reason(database: Database) -> None:
    dollars = await _product(database, 10, currency="USD")
    empty = await _product(database, 0)
    fine = await _product(database, 10)
    unknown = new_id("prd")
    placed = _placed((dollars, 1), (empty, 1), (fine, 1), (unknown, 4))
    await _deliver(database, placed)

    [(_, payload)] = await _published(database, placed.order_id)
    found = {
        s["product_id"]: (s["reason"], s["requested"], s["available"])
        for s in payload["shortfalls"]
    }
    assert found == {
        dollars.id: ("currency_mismatch", 1, 10),
        empty.id: ("out_of_stock", 1, 0),
        unknown: ("unknown_product", 4, 0),
    }
    assert await _stock(database, fine) == 10


async def test_twenty_concurrent_orders_for_the_last_unit_reserve_it_exactly_once(
    database: Database,
) -> None:
    last = await _product(database, 1)
    orders = [_placed((last, 1)) for _ in range(20)]
    await asyncio.gather(*(_deliver(database, placed) for placed in orders))

    assert await _stock(database, last) == 0
    outcomes = [(await _published(database, p.order_id))[0][0] for p in orders]
    assert outcomes.count("catalog.stock.reserved.v1") == 1
    assert outcomes.count("catalog.stock.rejected.v1") == 19


async def test_concurrent_orders_for_the_same_products_in_any_line_order_never_deadlock(
    database: Database,
) -> None:
    first, second = await _product(database, 5), await _product(database, 5)
    orders = []
    for _ in range(12):
        lines = [(first, 1), (second, 1)]
        random.shuffle(lines)
        orders.append(_placed(*lines))
    await asyncio.gather(*(_deliver(database, placed) for placed in orders))

    outcomes = [(await _published(database, p.order_id))[0][0] for p in orders]
    assert outcomes.count("catalog.stock.reserved.v1") == 5
    assert (await _stock(database, first), await _stock(database, second)) == (0, 0)


async def test_a_placement_delivered_again_changes_nothing(database: Database) -> None:
    product = await _product(database, 5)
    placed = _placed((product, 2))
    await _deliver(database, placed)
    await _deliver(database, placed)  # a new event id: past the inbox, caught by the order
    await asyncio.gather(*(_deliver(database, placed) for _ in range(3)))

    assert await _stock(database, product) == 3
    assert [t for t, _ in await _published(database, placed.order_id)] == [
        "catalog.stock.reserved.v1"
    ]


async def test_a_rejected_order_stays_rejected_when_stock_arrives_later(
    database: Database,
) -> None:
    product = await _product(database, 0)
    placed = _placed((product, 1))
    await _deliver(database, placed)
    async with database.transaction() as session:
        await change_product(session, product.id, price_cents=None, stock_adjustment=5)
    await _deliver(database, placed)

    assert await _stock(database, product) == 5
    assert [t for t, _ in await _published(database, placed.order_id)] == [
        "catalog.stock.rejected.v1"
    ]


async def test_a_cancelled_order_gets_its_stock_back_once(database: Database) -> None:
    mug, tee = await _product(database, 4), await _product(database, 4)
    placed = _placed((mug, 3), (tee, 1))
    await _deliver(database, placed)
    cancelled = _cancelled(placed, "timeout")
    await _deliver(database, cancelled)
    await _deliver(database, cancelled)
    await asyncio.gather(*(_deliver(database, cancelled) for _ in range(3)))

    assert (await _stock(database, mug), await _stock(database, tee)) == (4, 4)
    published = await _published(database, placed.order_id)
    assert [t for t, _ in published] == ["catalog.stock.reserved.v1", "catalog.stock.released.v1"]
    released = StockReleasedV1.model_validate(published[1][1])
    assert released.order_id == placed.order_id
    assert sorted((line.product_id, line.quantity) for line in released.items) == sorted(
        [(mug.id, 3), (tee.id, 1)]
    )
    async with database.transaction() as session:
        reservation = await reservation_for(session, placed.order_id)
    assert reservation is not None
    assert reservation.status == "released"
    assert reservation.released_at is not None


async def test_cancelling_a_rejected_order_changes_nothing(database: Database) -> None:
    product = await _product(database, 1)
    placed = _placed((product, 2))
    await _deliver(database, placed)
    await _deliver(database, _cancelled(placed))

    assert await _stock(database, product) == 1
    assert [t for t, _ in await _published(database, placed.order_id)] == [
        "catalog.stock.rejected.v1"
    ]


async def test_a_placement_arriving_after_its_cancellation_reserves_nothing(
    database: Database,
) -> None:
    """A placement can come back from a retry topic after the order timed out."""
    product = await _product(database, 3)
    placed = _placed((product, 1))
    await _deliver(database, _cancelled(placed, "timeout"))
    await _deliver(database, placed)

    assert await _stock(database, product) == 3
    assert await _published(database, placed.order_id) == []
    async with database.transaction() as session:
        assert await ReservationRepository(session).status_of(placed.order_id) == "voided"
        assert await reservation_for(session, placed.order_id) is None
