"""Ping a pooled connection before use only when it has sat idle, not on every checkout.

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

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

__all__ = ["PING_AFTER_IDLE_S", "ping_when_idle"]

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
