"""All of catalog's SQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import BigInteger, DateTime, String, bindparam, func, insert, null, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.domain import (
    MAX_STOCK,
    InsufficientStock,
    Product,
    ProductNotFound,
    Reservation,
    ReservationStatus,
    SkuTaken,
    StockLimitExceeded,
)
from catalog.tables import products, reservation_lines, reservations
from servicekit.db import DirectStatement, direct

__all__ = ["Decision", "ProductRepository", "ReservationRepository"]

# The saga's statements run on the driver (servicekit.db.direct), compiled once: each runs for
# every order (SQLAlchemy would compile the ON CONFLICT insert afresh each time).
_DECIDE_STATEMENT = (
    pg_insert(reservations)
    .values(
        order_id=bindparam("order_id"),
        user_id=bindparam("user_id"),
        status=bindparam("status"),
        reserved_at=bindparam("reserved_at"),
        released_at=null(),
        decided_at=bindparam("decided_at"),
    )
    .on_conflict_do_nothing(index_elements=["order_id"])
    .returning(reservations.c.order_id)
)
_DECIDE = direct(_DECIDE_STATEMENT)

# The statements of every reservation, built once and run with their values (building a
# statement costs more CPU than its round trip).
_BY_ID = direct(select(products).where(products.c.id == bindparam("product_id")))
"""A product by its id: what orders asks for each line of every order it prices."""
_LOCK_PRODUCTS = direct(
    select(products)
    .where(products.c.id == func.any(bindparam("product_ids", type_=ARRAY(String))))
    .order_by(products.c.id)
    .with_for_update()
)
_MOVE_STOCK = direct(
    update(products)
    .where(products.c.id == bindparam("product_id"))
    .values(stock=products.c.stock + bindparam("change", type_=BigInteger), updated_at=func.now())
)
_STATUS = select(reservations.c.status).where(reservations.c.order_id == bindparam("order_id"))
_LOCK_STATUS = _STATUS.with_for_update()
# One row whether or not the order was decided: the transaction's now() and the decision.
_DECISION = direct(
    select(
        func.now(type_=DateTime(timezone=True)).label("transaction_time"),
        _STATUS.scalar_subquery().label("status"),
    )
)
_UNNESTED = (
    func.unnest(
        bindparam("product_ids", type_=ARRAY(String)),
        bindparam("quantities", type_=ARRAY(BigInteger)),
    )
    .table_valued("product_id", "quantity")
    .render_derived()
)
_NEW_LINES = select(_UNNESTED.c.product_id, _UNNESTED.c.quantity).cte("new_lines")
_RESERVED = _DECIDE_STATEMENT.cte("decided")
# One statement, one round trip: the reservation recorded unless the order was decided, its
# lines added and their units taken out of stock only if it was recorded here (Postgres runs
# every data-modifying WITH to completion; each joins `decided`, empty when the order had been
# decided). The foreign keys are checked as the statement ends, with the reservation in place.
_RESERVE = direct(
    select(_RESERVED.c.order_id).add_cte(
        insert(reservation_lines)
        .from_select(
            ["order_id", "product_id", "quantity"],
            select(_RESERVED.c.order_id, _NEW_LINES.c.product_id, _NEW_LINES.c.quantity),
        )
        .cte("added_lines"),
        update(products)
        .where(products.c.id == _NEW_LINES.c.product_id, _RESERVED.c.order_id.is_not(None))
        .values(stock=products.c.stock - _NEW_LINES.c.quantity, updated_at=func.now())
        .cte("taken_stock"),
    )
)


class ProductRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, product: Product) -> Product:
        """Raises SkuTaken when another product has the SKU."""
        statement = insert(products).values(_product_values(product)).returning(*products.c)
        try:
            async with self._session.begin_nested():
                row = (await self._session.execute(statement)).one()
        except IntegrityError as error:
            raise SkuTaken(product.sku) from error
        return _product(row)

    async def add_missing(self, new: Sequence[Product]) -> list[Product]:
        """Insert each product whose SKU is not taken; return the ones inserted."""
        if not new:
            return []
        rows = await self._session.execute(
            pg_insert(products)
            .values([_product_values(product) for product in new])
            .on_conflict_do_nothing(index_elements=["sku"])
            .returning(*products.c)
        )
        return [_product(row) for row in rows]

    async def by_id(self, product_id: str) -> Product | None:
        row = (await _BY_ID.run(self._session, {"product_id": product_id})).first()
        return _product(row) if row else None

    async def page(self, *, limit: int, after_id: str | None = None) -> list[Product]:
        """Oldest first (ids are time-ordered); `after_id` continues after the previous page."""
        statement = select(products).order_by(products.c.id).limit(limit)
        if after_id is not None:
            statement = statement.where(products.c.id > after_id)
        return [_product(row) for row in await self._session.execute(statement)]

    async def change(
        self, product_id: str, *, price_cents: int | None, stock_adjustment: int | None
    ) -> Product:
        """One conditional UPDATE, so concurrent adjustments and reservations never take the
        stock below zero. Raises ProductNotFound, InsufficientStock or StockLimitExceeded."""
        adjustment = stock_adjustment or 0
        values: dict[str, object] = {
            "stock": products.c.stock + adjustment,
            "updated_at": func.now(),
        }
        if price_cents is not None:
            values["price_cents"] = price_cents
        row = (
            await self._session.execute(
                update(products)
                .where(
                    products.c.id == product_id,
                    products.c.stock + adjustment >= 0,
                    products.c.stock + adjustment <= MAX_STOCK,
                )
                .values(values)
                .returning(*products.c)
            )
        ).first()
        if row is not None:
            return _product(row)
        current = await self.by_id(product_id)
        if current is None:
            raise ProductNotFound(product_id)
        if current.stock + adjustment < 0:
            raise InsufficientStock(product_id)
        raise StockLimitExceeded(product_id)

    async def lock(self, product_ids: Sequence[str]) -> dict[str, Product]:
        """Lock the products that exist among `product_ids` until the transaction ends.

        The rows are locked in id order (the sort runs below the row locking), so concurrent
        reservations of overlapping products queue instead of deadlocking.
        """
        rows = await _LOCK_PRODUCTS.run(self._session, {"product_ids": list(product_ids)})
        return {row.id: _product(row) for row in rows}

    async def give_back(self, quantities: Mapping[str, int]) -> None:
        """Put units back into stock, locking the rows in id order."""
        for product_id, quantity in sorted(quantities.items()):
            await _MOVE_STOCK.run(self._session, {"product_id": product_id, "change": quantity})


class Decision(NamedTuple):
    """An order's reservation status (None: not decided yet) and the transaction's now()."""

    status: ReservationStatus | None
    transaction_time: datetime


class ReservationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def decision(self, order_id: str) -> Decision:
        """catalog's decision on the order so far (not locked), read with the transaction's
        time, the clock its decision is stamped with (servicekit.db.clock's transaction_time,
        without a round trip of its own)."""
        row = (await _DECISION.run(self._session, {"order_id": order_id})).one()
        return Decision(row.status, row.transaction_time)

    async def status_of(self, order_id: str, *, lock: bool = False) -> ReservationStatus | None:
        statement = _LOCK_STATUS if lock else _STATUS
        status: ReservationStatus | None = (
            await self._session.execute(statement, {"order_id": order_id})
        ).scalar()
        return status

    async def decide(
        self, order_id: str, user_id: str, status: ReservationStatus, at: datetime
    ) -> bool:
        """Record catalog's decision on an order that reserves nothing (rejected, voided);
        False (and nothing written) when the order was already decided. A concurrent decision
        on the same order waits for the first to commit and then finds it."""
        return await self._record(_DECIDE, order_id, user_id, status, at, None)

    async def reserve(
        self, order_id: str, user_id: str, lines: Mapping[str, int], at: datetime
    ) -> bool:
        """Record the order as reserved with its lines and take their units out of stock, in
        one statement; False (and nothing written, nothing taken) when the order was already
        decided. The products must be locked by this transaction."""
        return await self._record(_RESERVE, order_id, user_id, "reserved", at, lines)

    async def _record(
        self,
        statement: DirectStatement,
        order_id: str,
        user_id: str,
        status: ReservationStatus,
        at: datetime,
        lines: Mapping[str, int] | None,
    ) -> bool:
        parameters: dict[str, object] = {
            "order_id": order_id,
            "user_id": user_id,
            "status": status,
            "reserved_at": at if status == "reserved" else None,
            "decided_at": at,
        }
        if lines is not None:
            parameters["product_ids"] = list(lines)
            parameters["quantities"] = list(lines.values())
        return (await statement.run(self._session, parameters)).first() is not None

    async def mark_released(self, order_id: str, at: datetime) -> None:
        await self._session.execute(
            update(reservations)
            .where(reservations.c.order_id == order_id)
            .values(status="released", released_at=at)
        )

    async def by_order(self, order_id: str) -> Reservation | None:
        row = (
            await self._session.execute(
                select(reservations).where(reservations.c.order_id == order_id)
            )
        ).first()
        if row is None:
            return None
        lines = await self._session.execute(
            select(reservation_lines.c.product_id, reservation_lines.c.quantity)
            .where(reservation_lines.c.order_id == order_id)
            .order_by(reservation_lines.c.product_id)
        )
        return Reservation(
            order_id=row.order_id,
            user_id=row.user_id,
            status=row.status,
            lines=tuple((line.product_id, line.quantity) for line in lines),
            reserved_at=row.reserved_at,
            released_at=row.released_at,
        )


def _product_values(product: Product) -> dict[str, object]:
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "price_cents": product.price_cents,
        "currency": product.currency,
        "stock": product.stock,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
    }


def _product(row: object) -> Product:
    mapping = row._mapping  # type: ignore[attr-defined]
    return Product(
        id=mapping["id"],
        sku=mapping["sku"],
        name=mapping["name"],
        price_cents=mapping["price_cents"],
        currency=mapping["currency"],
        stock=mapping["stock"],
        created_at=mapping["created_at"],
        updated_at=mapping["updated_at"],
    )
