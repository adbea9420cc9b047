"""Which pooled connections are fit for use: ping one only when it sat idle, not on every
checkout, and discard one whose driver lost track of its own state.

SQLAlchemy's `pool_pre_ping` pings on every checkout, and with asyncpg a ping is three round
trips (BEGIN, an empty statement, ROLLBACK): under load that was a third of a service's
statements (docs/performance.md). A connection checked in moments ago was alive moments ago;
one that sat idle for `PING_AFTER_IDLE_S` may belong to a Postgres that restarted since, so it
is pinged, and a dead one is replaced (DisconnectionError: the pool connects afresh). A
connection that dies while busy raises a disconnect error, which makes SQLAlchemy invalidate
the whole pool, so a restarted Postgres is still picked up without a restart of ours.
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg
from sqlalchemy import event, exc
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

__all__ = ["PING_AFTER_IDLE_S", "discard_confused_connections", "ping_when_idle"]

PING_AFTER_IDLE_S = 2.0
"""A connection idle for longer than this is pinged before it is handed out."""

_CHECKED_IN_AT = "servicekit.checked_in_at"


def ping_when_idle(engine: AsyncEngine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _checked_in(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checked_out(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_s:
            return  # just connected, or in use moments ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError("idle connection is dead") from error


def discard_confused_connections(engine: AsyncEngine) -> None:
    """Treat a connection whose driver lost track of its own state as disconnected, so the pool
    discards it (and the error reads as an unavailable database: 503, a consumer's outage).

    asyncpg can be left so when Postgres dies or stalls under an operation that is then cut
    off: "cannot switch to state …; another operation is in progress", or a transaction whose
    BEGIN never answered, which makes every later one a SAVEPOINT the server refuses. Left in
    the pool, such a connection fails every request that gets it until the process restarts.
    """

    def on_error(context: ExceptionContext) -> None:
        if _driver_confused(context.original_exception):
            context.is_disconnect = True  # type: ignore[misc]  # documented as settable

    event.listen(engine.sync_engine, "handle_error", on_error)


def _driver_confused(error: BaseException | None) -> bool:
    for _ in range(4):  # SQLAlchemy's adapter error, then asyncpg's beneath it
        if error is None:
            return False
        if isinstance(error, asyncpg.exceptions.InternalClientError):
            return True
        if isinstance(error, asyncpg.exceptions.NoActiveSQLTransactionError) and "SAVEPOINT" in str(
            error
        ):
            return True
        error = error.__cause__
    return False
