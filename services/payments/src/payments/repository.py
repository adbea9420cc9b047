"""All of payments' SQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import DateTime, String, bindparam, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain import FailReason, OrderBusy, Payment
from payments.tables import payments
from servicekit.db import direct

__all__ = ["HeldPayment", "PaymentRepository"]

_LOCK_NOT_AVAILABLE = "55P03"

# The statements of every payment, built once and run on the driver (servicekit.db.direct):
# building a statement costs more CPU than its round trip, and SQLAlchemy's execution of one
# about twice its round trip.
_NEW_PAYMENT_COLUMNS = (
    "id",
    "order_id",
    "user_id",
    "amount_cents",
    "currency",
    "payment_method",
    "status",
    "reason",
    "charge_id",
    "attempts",
    "created_at",
    "updated_at",
)
"""What a new payment is inserted with: its own fields of the same names."""
# The order's lock: a transaction-scoped advisory lock on its id (no row to lock before the
# charge's payment commits).
_ORDER_LOCK = select(
    func.pg_advisory_xact_lock(
        func.hashtextextended(bindparam("lock_name", type_=String), literal_column("0"))
    ).label("locked")
)
_LOCK_ORDER = direct(_ORDER_LOCK)
# The database's clock read by the statements that need it, not by a statement of its own: the
# payment's hold reads it (after the order's lock), its settlement stamps it
# (servicekit.db.clock's statement_time, one round trip fewer each).
_CLOCK = func.clock_timestamp(type_=DateTime(timezone=True)).label("clock")
# The lock, then the payment unless the order has one: one statement. Its row is selected from
# the lock's CTE, so the lock is taken before the insert looks for the order's payment.
_HOLD = direct(
    insert(payments)
    .from_select(
        list(_NEW_PAYMENT_COLUMNS),
        select(
            *(bindparam(name, type_=payments.c[name].type) for name in _NEW_PAYMENT_COLUMNS)
        ).select_from(_ORDER_LOCK.cte("order_lock")),
    )
    .on_conflict_do_nothing(index_elements=[payments.c.order_id])
    .returning(*payments.c, _CLOCK)
)
_LOCK_FOR_ORDER = direct(
    select(payments, _CLOCK).where(payments.c.order_id == bindparam("order_id")).with_for_update()
)
_SETTLE = direct(
    update(payments)
    .where(payments.c.id == bindparam("payment_id"))
    .values(
        {
            **{name: bindparam(name) for name in ("status", "charge_id", "reason", "attempts")},
            "updated_at": func.clock_timestamp(),
        }
    )
    .returning(*payments.c)
)


class HeldPayment(NamedTuple):
    """An order's payment, locked by the transaction, and the database's clock as it was
    taken (`clock_timestamp()`, after the order's lock)."""

    payment: Payment
    clock: datetime


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_order(self, order_id: str) -> None:
        """Hold the order until the transaction ends, so charging it and settling its
        cancellation never interleave (the charge's row is not visible before it commits).
        Waiting longer than the lock timeout raises OrderBusy."""
        with _order_busy_past_the_lock_timeout(order_id):
            await _LOCK_ORDER.run(self._session, {"lock_name": _lock_name(order_id)})

    async def add_once(self, payment: Payment) -> HeldPayment:
        """Hold the order (as `lock_order` does) and insert `payment` unless the order has one,
        in one statement; return the order's payment, locked until the transaction ends (a
        concurrent delivery for the same order waits, then sees the outcome), with the
        database's clock as the statement ran."""
        parameters = {name: getattr(payment, name) for name in _NEW_PAYMENT_COLUMNS}
        with _order_busy_past_the_lock_timeout(payment.order_id):
            inserted = (
                await _HOLD.run(
                    self._session, {**parameters, "lock_name": _lock_name(payment.order_id)}
                )
            ).first()
        if inserted is not None:
            return HeldPayment(_payment(inserted), inserted.clock)
        existing = (await _LOCK_FOR_ORDER.run(self._session, {"order_id": payment.order_id})).one()
        return HeldPayment(_payment(existing), existing.clock)

    async def mark_succeeded(self, payment_id: str, *, charge_id: str, attempts: int) -> Payment:
        """Settle the payment as charged, stamped (`updated_at`) by the database's clock."""
        return await self._settle(
            payment_id, status="succeeded", charge_id=charge_id, attempts=attempts
        )

    async def mark_failed(self, payment_id: str, *, reason: FailReason, attempts: int) -> Payment:
        """Settle the payment as failed, stamped (`updated_at`) by the database's clock."""
        return await self._settle(payment_id, status="failed", reason=reason, attempts=attempts)

    async def mark_refunded(self, payment_id: str, *, refund_id: str, at: datetime) -> Payment:
        return await self._update(
            payment_id,
            status="refunded",
            refund_status="refunded",
            refund_id=refund_id,
            refunded_at=at,
            updated_at=at,
        )

    async def mark_nothing_charged(self, payment_id: str, *, at: datetime) -> Payment:
        return await self._update(payment_id, refund_status="nothing_charged", updated_at=at)

    async def _update(self, payment_id: str, **values: object) -> Payment:
        row = (
            await self._session.execute(
                update(payments)
                .where(payments.c.id == payment_id)
                .values(**values)
                .returning(*payments.c)
            )
        ).one()
        return _payment(row)

    async def for_order(self, order_id: str) -> list[Payment]:
        rows = await self._session.execute(
            select(payments).where(payments.c.order_id == order_id).order_by(payments.c.id)
        )
        return [_payment(row) for row in rows]

    async def _settle(
        self,
        payment_id: str,
        *,
        status: str,
        attempts: int,
        charge_id: str | None = None,
        reason: str | None = None,
    ) -> Payment:
        row = (
            await _SETTLE.run(
                self._session,
                {
                    "payment_id": payment_id,
                    "status": status,
                    "charge_id": charge_id,
                    "reason": reason,
                    "attempts": attempts,
                },
            )
        ).one()
        return _payment(row)


def _lock_name(order_id: str) -> str:
    return f"payments.order:{order_id}"


@contextmanager
def _order_busy_past_the_lock_timeout(order_id: str) -> Iterator[None]:
    try:
        yield
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise OrderBusy(order_id) from error
        raise


def _payment(row: object) -> Payment:
    mapping = row._mapping  # type: ignore[attr-defined]
    return Payment(
        id=mapping["id"],
        order_id=mapping["order_id"],
        user_id=mapping["user_id"],
        amount_cents=mapping["amount_cents"],
        currency=mapping["currency"],
        payment_method=mapping["payment_method"],
        status=mapping["status"],
        reason=mapping["reason"],
        charge_id=mapping["charge_id"],
        attempts=mapping["attempts"],
        created_at=mapping["created_at"],
        updated_at=mapping["updated_at"],
        refund_status=mapping["refund_status"],
        refund_id=mapping["refund_id"],
        refunded_at=mapping["refunded_at"],
    )
