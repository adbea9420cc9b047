"""All of orders' SQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orders.domain import HistoryEntry, Order, OrderLine, OrderStatus
from orders.tables import OPEN_STATUSES, order_history, order_lines, orders

__all__ = ["OrderRepository"]


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, order: Order) -> None:
        """Insert a new order with its lines and history."""
        await self._session.execute(
            insert(orders).values(
                id=order.id,
                user_id=order.user_id,
                email=order.email,
                status=order.status.value,
                total_cents=order.total_cents,
                currency=order.currency,
                payment_method=order.payment_method,
                reason=order.reason,
                created_at=order.created_at,
                updated_at=order.updated_at,
                deadline_at=order.deadline_at,
            )
        )
        await self._session.execute(
            insert(order_lines).values(
                [
                    {
                        "order_id": order.id,
                        "line_no": number,
                        "product_id": line.product_id,
                        "quantity": line.quantity,
                        "unit_price_cents": line.unit_price_cents,
                    }
                    for number, line in enumerate(order.lines, start=1)
                ]
            )
        )
        await self._session.execute(
            insert(order_history).values(
                [
                    {
                        "order_id": order.id,
                        "status": entry.status.value,
                        "at": entry.at,
                        "cause": entry.cause,
                    }
                    for entry in order.history
                ]
            )
        )

    async def get(self, order_id: str) -> Order | None:
        found = await self._load(select(orders).where(orders.c.id == order_id))
        return found[0] if found else None

    async def lock(self, order_id: str) -> Order | None:
        """The order, its row locked until the transaction ends: transitions of one order
        (consumers, the sweeper) happen one at a time."""
        found = await self._load(select(orders).where(orders.c.id == order_id).with_for_update())
        return found[0] if found else None

    async def lock_overdue(self, limit: int) -> list[Order]:
        """Up to `limit` open orders whose deadline has passed by the database's clock,
        locked; rows another transaction holds (a consumer, another replica's sweeper) are
        skipped, not waited on."""
        return await self._load(
            select(orders)
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
            select(orders)
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
        values: dict[str, Any] = {"status": last.status.value, "updated_at": last.at}
        if reason is not None:
            values["reason"] = reason
        await self._session.execute(update(orders).where(orders.c.id == order_id).values(values))
        await self._session.execute(
            insert(order_history).values(
                [
                    {
                        "order_id": order_id,
                        "status": entry.status.value,
                        "at": entry.at,
                        "cause": entry.cause,
                    }
                    for entry in entries
                ]
            )
        )

    async def _load(self, statement: Select[Any]) -> list[Order]:
        heads = (await self._session.execute(statement)).all()
        if not heads:
            return []
        ids = [head.id for head in heads]
        lines: dict[str, list[OrderLine]] = defaultdict(list)
        for row in await self._session.execute(
            select(order_lines)
            .where(order_lines.c.order_id.in_(ids))
            .order_by(order_lines.c.order_id, order_lines.c.line_no)
        ):
            lines[row.order_id].append(
                OrderLine(row.product_id, row.quantity, row.unit_price_cents)
            )
        history: dict[str, list[HistoryEntry]] = defaultdict(list)
        for row in await self._session.execute(
            select(order_history)
            .where(order_history.c.order_id.in_(ids))
            .order_by(order_history.c.order_id, order_history.c.id)
        ):
            history[row.order_id].append(HistoryEntry(OrderStatus(row.status), row.at, row.cause))
        return [_order(head._mapping, lines[head.id], history[head.id]) for head in heads]


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
