"""The service's connection pool: bounded, so a burst of work cannot exhaust Postgres."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session

from servicekit.db.liveness import discard_confused_connections, ping_when_idle
from servicekit.settings import ServiceSettings

__all__ = ["Database", "WriteInReads"]


class WriteInReads(RuntimeError):
    """A statement other than a SELECT was run in `Database.reads()`: it would have committed
    on its own, outside any transaction."""


class Database:
    """One async engine per process, connected as the service's own role, in its own schema."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_sessions = async_sessionmaker(
            autocommit, expire_on_commit=False, autoflush=False, sync_session_class=_ReadSession
        )
        self.standalone_sessions = async_sessionmaker(
            autocommit, expire_on_commit=False, autoflush=False
        )

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Database:
        engine = create_async_engine(
            settings.database_url.get_secret_value(),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            # The connection handed back last is handed out first: in a quiet moment one or two
            # connections do the work and the rest wait for the next burst. Handed out in turn,
            # each of the 15 would sit idle 15 times as long between uses, past the 2 s after
            # which a connection is pinged (three round trips) at a few requests a second.
            pool_use_lifo=True,
            pool_timeout=settings.db_pool_timeout_s,
            # A restarted Postgres is picked up without a restart of ours: connections idle
            # for a while are pinged before use (servicekit.db.liveness), not every checkout.
            pool_pre_ping=False,
            pool_recycle=1800,
            # Errors and logs show the statement, never its values (emails, password hashes).
            hide_parameters=True,
            connect_args={
                "timeout": settings.db_connect_timeout_s,
                "command_timeout": settings.db_statement_timeout_ms / 1000 + 1,
                "server_settings": {
                    "search_path": settings.db_schema,
                    "application_name": settings.service_name,
                    "statement_timeout": str(settings.db_statement_timeout_ms),
                    "lock_timeout": str(
                        min(settings.db_statement_timeout_ms, settings.db_lock_timeout_ms)
                    ),
                },
            },
        )
        ping_when_idle(engine)
        discard_confused_connections(engine)
        return cls(engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[AsyncSession]:
        """A session for reading only, in autocommit: no `BEGIN` and `COMMIT` round trips
        around its statements. Each SELECT sees what was committed when it started, so two
        reads may see two moments: meant for answers read by one statement. Anything but a
        SELECT raises `WriteInReads` before it is sent."""
        async with self.read_sessions() as session:
            yield session

    @asynccontextmanager
    async def standalone(self) -> AsyncIterator[AsyncSession]:
        """A session whose statements each commit as they run (autocommit), without the
        `BEGIN` and `COMMIT` round trips of a transaction: for a write that must be durable
        before what follows it (a claim taken before a side effect) and that is right
        statement by statement. Nothing is rolled back: when a statement fails, the ones
        before it stay committed. What needs several statements to commit together takes
        `transaction()`."""
        async with self.standalone_sessions() as session:
            yield session

    async def ping(self) -> float:
        """Round-trip `SELECT 1`; returns the latency in seconds."""
        started = time.perf_counter()
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return time.perf_counter() - started

    def pool_status(self) -> dict[str, int]:
        """`max` is size + overflow allowance; `waiting`, the checkouts queued for a connection."""
        pool = self.engine.pool
        return {
            "size": pool.size(),  # type: ignore[attr-defined]
            "checked_out": pool.checkedout(),  # type: ignore[attr-defined]
            "overflow": pool.overflow(),  # type: ignore[attr-defined]
            "max": pool.size() + max(0, getattr(pool, "_max_overflow", 0)),  # type: ignore[attr-defined]
            "waiting": _waiting_checkouts(pool),
        }

    async def dispose(self) -> None:
        await self.engine.dispose()


class _ReadSession(Session):
    """The sessions of `Database.reads()`."""


@event.listens_for(_ReadSession, "do_orm_execute")
def _refuse_writes(state: ORMExecuteState) -> None:
    if not state.is_select:
        raise WriteInReads(f"only SELECTs run in Database.reads(), not: {state.statement}")


def _waiting_checkouts(pool: object) -> int:
    """Checkouts blocked on a full pool. SQLAlchemy counts none, so this reads the asyncio
    queue under the async pool (created on first use: 0 before that, and 0 if its internals
    ever change rather than a wrong number)."""
    queue = getattr(getattr(pool, "_pool", None), "__dict__", {}).get("_queue")
    getters = getattr(queue, "_getters", None)
    if getters is None:
        return 0
    return sum(1 for waiter in getters if not waiter.done())
