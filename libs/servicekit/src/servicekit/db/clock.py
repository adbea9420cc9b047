"""Time from the database, for every decision that compares a deadline or an expiry.

Replicas and services run on different machines whose clocks drift apart; the database is the
one clock they all share. A deadline is stamped with the database's time, and compared with it
later, so that "is it past?" means the same thing in every process (docs/security.md).

    transaction_time   now(): the start of the current transaction, the same for every
                       statement in it (stamps that must agree, e.g. created_at and a deadline)
    statement_time     clock_timestamp(): the moment the statement runs (a decision taken
                       after a wait, e.g. a lock, in a long transaction)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["statement_time", "transaction_time"]

_NOW = select(func.now())
_CLOCK_TIMESTAMP = select(func.clock_timestamp())


async def transaction_time(session: AsyncSession) -> datetime:
    """The database's now(): when the session's transaction started."""
    value: datetime = (await session.execute(_NOW)).scalar_one()
    return value


async def statement_time(session: AsyncSession) -> datetime:
    """The database's clock_timestamp(): the time as this statement runs."""
    value: datetime = (await session.execute(_CLOCK_TIMESTAMP)).scalar_one()
    return value
