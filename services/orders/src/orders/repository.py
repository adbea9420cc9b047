"""All of orders' SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    Interval,
    Label,
    Row,
    Select,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from orders.domain import HistoryEntry, Order, OrderLine, OrderStatus, PricedOrder
from orders.tables import OPEN_STATUSES, order_history, order_lines, orders
from servicekit.db import DirectStatement, direct

__all__ = ["LockedOrder", "OrderRepository"]


@dataclass(frozen=True)
class LockedOrder:
    """An order `OrderRepository.lock` locked, with the time its transaction moves it at."""

    order: Order
    now: datetime
    """The transaction's now() (servicekit.db.clock.transaction_time), read by the statement
    that locked the order: no round trip of its own."""


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def place(
        self,
        *,
        order_id: str,
        user_id: str,
        email: str,
        priced: PricedOrder,
        payment_method: str,
        deadline_s: float,
        cause: str,
    ) -> Order:
        """Insert a new order (PENDING) with its lines and its first history entry, stamped by
        the same statement with the transaction's now() (the database's clock,
        servicekit.db.clock) and due `deadline_s` after it: the clock costs no round trip of
        its own. Returns the order as stored."""
        row = (
            await _PLACE.run(
                self._session,
                {
                    "order_id": order_id,
                    "user_id": user_id,
                    "email": email,
                    "status": OrderStatus.PENDING.value,
                    "total_cents": priced.total_cents,
                    "currency": priced.currency,
                    "payment_method": payment_method,
                    "reason": None,
                    "deadline_s": deadline_s,
                    "cause": cause,
                    "product_ids": [line.product_id for line in priced.lines],
                    "quantities": [line.quantity for line in priced.lines],
                    "unit_prices_cents": [line.unit_price_cents for line in priced.lines],
                },
            )
        ).one()
        first = HistoryEntry(OrderStatus.PENDING, row.created_at, cause)
        return _order(row._mapping, priced.lines, (first,))

    async def get(self, order_id: str) -> Order | None:
        found = await self._load(_GET, {"order_id": order_id})
        return found[0] if found else None

    async def lock(self, order_id: str) -> LockedOrder | None:
        """The order, its row locked until the transaction ends: transitions of one order
        (consumers, the sweeper) happen one at a time. The same statement reads the
        transaction's now(), the clock a transition is stamped with."""
        found = await self._read(_LOCK, {"order_id": order_id})
        if not found:
            return None
        row, order = found[0]
        return LockedOrder(order, row.transaction_time)

    async def lock_overdue(self, limit: int) -> list[Order]:
        """Up to `limit` open orders whose deadline has passed by the database's clock,
        locked; rows another transaction holds (a consumer, another replica's sweeper) are
        skipped, not waited on."""
        return await self._load(
            _whole(select(orders))
            .where(orders.c.status.in_(OPEN_STATUSES), orders.c.deadline_at <= func.now())
            .order_by(orders.c.deadline_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )

    async def overdue_summary(self) -> tuple[int, float]:
        """How many open orders are past their deadline, and how long (seconds) the most
        overdue one is past it (0 when none), by the database's clock."""
        count, oldest_age_s = (
            await self._session.execute(
                select(
                    func.count(), func.extract("epoch", func.now() - func.min(orders.c.deadline_at))
                ).where(orders.c.status.in_(OPEN_STATUSES), orders.c.deadline_at <= func.now())
            )
        ).one()
        return int(count), float(oldest_age_s or 0)

    async def page_for_user(
        self, user_id: str, *, limit: int, before_id: str | None = None
    ) -> list[Order]:
        """Newest first; `before_id` continues after the last one of the previous page."""
        statement = (
            _whole(select(orders))
            .where(orders.c.user_id == user_id)
            .order_by(orders.c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            statement = statement.where(orders.c.id < before_id)
        return await self._load(statement)

    async def record_transition(
        self,
        order_id: str,
        entries: Sequence[HistoryEntry],
        *,
        reason: str | None = None,
    ) -> None:
        """Move a locked order to the last of `entries`' statuses and append them all to its
        history."""
        last = entries[-1]
        await _RECORD_TRANSITION.run(
            self._session,
            {
                "order_id": order_id,
                "status": last.status.value,
                "updated_at": last.at,
                "new_reason": reason,
                **_history_values(entries),
            },
        )

    async def _load(
        self, statement: Select[Any] | DirectStatement, parameters: dict[str, Any] | None = None
    ) -> list[Order]:
        return [order for _, order in await self._read(statement, parameters)]

    async def _read(
        self, statement: Select[Any] | DirectStatement, parameters: dict[str, Any] | None = None
    ) -> list[tuple[Row[Any], Order]]:
        """The orders a `_whole(...)` statement selects, each with its lines and history. Each
        comes with its row, for what else `statement` selected."""
        if isinstance(statement, DirectStatement):
            rows = (await statement.run(self._session, parameters)).all()
        else:
            rows = list((await self._session.execute(statement, parameters)).all())
        loaded = []
        for row in rows:
            history = row.history
            if not _agrees(row, history):
                history = await self._history(row.id)
            loaded.append((row, _order(row._mapping, _lines(row.lines), _history(history))))
        return loaded

    async def _history(self, order_id: str) -> list[dict[str, Any]]:
        """The order's history read again, in a statement of its own (see `_agrees`)."""
        return list((await _HISTORY_OF.run(self._session, {"order_id": order_id})).scalar_one())


def _json_array(table: Table, order_by: ColumnElement[Any], *columns: Column[Any]) -> Label[Any]:
    """A correlated subquery: the order's rows of `table` as a JSON array of objects (the
    given columns, in `order_by` order; [] when none), labelled `lines` or `history`."""
    fields: list[ColumnElement[Any]] = []
    for column in columns:
        fields += [literal_column(f"'{column.name}'"), column]
    return (
        select(
            func.coalesce(
                func.json_agg(aggregate_order_by(func.json_build_object(*fields), order_by)),
                literal_column("'[]'::json"),
                type_=JSON,
            )
        )
        .where(table.c.order_id == orders.c.id)
        .scalar_subquery()
        .label(table.name.removeprefix("order_"))
    )


# An order's lines and history next to its columns: the order with both is one round trip
# instead of three.
_LINES = _json_array(
    order_lines,
    order_lines.c.line_no,
    order_lines.c.product_id,
    order_lines.c.quantity,
    order_lines.c.unit_price_cents,
)
_HISTORY = _json_array(
    order_history,
    order_history.c.id,
    order_history.c.status,
    order_history.c.at,
    order_history.c.cause,
)


def _whole(statement: Select[Any]) -> Select[Any]:
    """`statement` (selecting orders) with each order's lines and history next to its columns,
    in one statement: two correlated subqueries aggregate them as JSON."""
    return statement.add_columns(_LINES, _HISTORY)


# The statements of the saga's every step, built once and run on the driver
# (servicekit.db.direct): building a statement costs more CPU than its round trip, and
# SQLAlchemy's execution of one about twice its round trip.
_GET = direct(_whole(select(orders)).where(orders.c.id == bindparam("order_id")))
_LOCK = direct(
    _whole(select(orders, func.now().label("transaction_time")))
    .where(orders.c.id == bindparam("order_id"))
    .with_for_update()
)
_HISTORY_OF = direct(select(_HISTORY).where(orders.c.id == bindparam("order_id")))

_ENTRIES = (
    func.unnest(
        bindparam("history_statuses", type_=ARRAY(String)),
        bindparam("history_ats", type_=ARRAY(DateTime(timezone=True))),
        bindparam("history_causes", type_=ARRAY(String)),
    )
    .table_valued("status", "at", "cause", with_ordinality="n")
    .render_derived()
)
_APPEND_HISTORY = insert(order_history).from_select(
    ["order_id", "status", "at", "cause"],
    select(
        bindparam("order_id", type_=String), _ENTRIES.c.status, _ENTRIES.c.at, _ENTRIES.c.cause
    ).order_by(_ENTRIES.c.n),
)
"""The entries (`_history_values`) appended to the order's history, ids in their order."""

_NEW_LINES = (
    func.unnest(
        bindparam("product_ids", type_=ARRAY(String)),
        bindparam("quantities", type_=ARRAY(Integer)),
        bindparam("unit_prices_cents", type_=ARRAY(BigInteger)),
    )
    .table_valued("product_id", "quantity", "unit_price_cents", with_ordinality="line_no")
    .render_derived()
)
_NOW = func.now()
_ONE_SECOND = literal_column("interval '1 second'", Interval)
_PLACED = (
    insert(orders)
    .values(
        {
            **{
                column.name: bindparam("order_id" if column is orders.c.id else column.name)
                for column in orders.c
            },
            "created_at": _NOW,
            "updated_at": _NOW,
            "deadline_at": _NOW + bindparam("deadline_s", type_=Float) * _ONE_SECOND,
        }
    )
    .returning(*orders.c)
    .cte("placed")
)
"""The new order, stamped with the transaction's now() and due `deadline_s` seconds after."""
_PLACE = direct(
    select(_PLACED).add_cte(
        insert(order_lines)
        .from_select(
            ["order_id", "line_no", "product_id", "quantity", "unit_price_cents"],
            select(
                bindparam("order_id", type_=String),
                _NEW_LINES.c.line_no,
                _NEW_LINES.c.product_id,
                _NEW_LINES.c.quantity,
                _NEW_LINES.c.unit_price_cents,
            ),
        )
        .cte("lines"),
        insert(order_history)
        .from_select(
            ["order_id", "status", "at", "cause"],
            select(
                _PLACED.c.id,
                _PLACED.c.status,
                _PLACED.c.created_at,
                bindparam("cause", type_=String),
            ),
        )
        .cte("history"),
    )
)
"""The order (`_PLACED`), its lines (numbered from 1) and its first history entry, in one
statement that returns the order's row: the foreign keys are checked at its end, when all three
are in."""

_RECORD_TRANSITION = direct(
    _APPEND_HISTORY.add_cte(
        update(orders)
        .where(orders.c.id == bindparam("order_id"))
        .values(
            status=bindparam("status"),
            updated_at=bindparam("updated_at"),
            reason=func.coalesce(bindparam("new_reason", type_=String), orders.c.reason),
        )
        .cte("moved")
    )
)
"""The order moved to its last history entry's status (its reason set when one is given) and
the entries appended to its history, in order."""


def _history_values(entries: Sequence[HistoryEntry]) -> dict[str, list[Any]]:
    return {
        "history_statuses": [entry.status.value for entry in entries],
        "history_ats": [entry.at for entry in entries],
        "history_causes": [entry.cause for entry in entries],
    }


def _agrees(row: Any, history: Sequence[dict[str, Any]]) -> bool:
    """Whether the history read with the order ends where the order stands.

    It does unless the statement locked the row after waiting for a transaction that moved
    the order: Postgres then hands out the row's newest version, but the subqueries still see
    the statement's snapshot, taken before that transaction committed. Every transition stamps
    `updated_at` with the time of its last history entry, which is how that is seen; the
    history is then read again (rare: only after a wait on the order's lock)."""
    if not history:
        return False
    last = history[-1]
    return bool(last["status"] == row.status and _timestamp(last["at"]) == row.updated_at)


def _lines(rows: Sequence[dict[str, Any]]) -> list[OrderLine]:
    return [OrderLine(r["product_id"], r["quantity"], r["unit_price_cents"]) for r in rows]


def _history(rows: Sequence[dict[str, Any]]) -> list[HistoryEntry]:
    return [HistoryEntry(OrderStatus(r["status"]), _timestamp(r["at"]), r["cause"]) for r in rows]


def _timestamp(text: str) -> datetime:
    """A timestamptz as json_build_object writes it (ISO 8601 with the session's offset, to
    the microsecond), in UTC as asyncpg returns timestamps."""
    return datetime.fromisoformat(text).astimezone(UTC)


def _order(mapping: Any, lines: Sequence[OrderLine], history: Sequence[HistoryEntry]) -> Order:
    return Order(
        id=mapping["id"],
        user_id=mapping["user_id"],
        email=mapping["email"],
        status=OrderStatus(mapping["status"]),
        lines=tuple(lines),
        total_cents=mapping["total_cents"],
        currency=mapping["currency"],
        payment_method=mapping["payment_method"],
        reason=mapping["reason"],
        created_at=mapping["created_at"],
        updated_at=mapping["updated_at"],
        deadline_at=mapping["deadline_at"],
        history=tuple(history),
    )
