"""Which pooled connections are handed out (servicekit.db.liveness).

A connection that sat idle is pinged first, so one whose backend went away meanwhile (a
restarted Postgres, a terminated backend) is replaced without the caller seeing an error; one
used moments ago is not pinged, which is what saves a third of the statements under load. A
connection whose driver lost track of its own state is discarded instead of going back to the
pool, and its error reads as an unavailable database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devstack.postgres import PostgresCluster
from servicekit.db.errors import is_database_unavailable
from servicekit.db.liveness import discard_confused_connections, ping_when_idle

IDLE_S = 0.3


@pytest.fixture
async def engine(own_postgres: PostgresCluster) -> AsyncIterator[AsyncEngine]:
    """One pooled connection, so every transaction gets the same one unless it is replaced."""
    engine = create_async_engine(
        own_postgres.admin_dsn("postgres", driver="postgresql+asyncpg"),
        pool_size=1,
        max_overflow=0,
        pool_pre_ping=False,
    )
    ping_when_idle(engine, idle_s=IDLE_S)
    discard_confused_connections(engine)
    yield engine
    await engine.dispose()


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(own_postgres: PostgresCluster, pid: int) -> None:
    admin = create_async_engine(own_postgres.admin_dsn("postgres", driver="postgresql+asyncpg"))
    try:
        async with admin.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()


async def test_an_idle_connection_whose_backend_died_is_replaced_before_use(
    engine: AsyncEngine, own_postgres: PostgresCluster
) -> None:
    first = await _backend_pid(engine)
    await _terminate(own_postgres, first)
    await asyncio.sleep(IDLE_S * 2)  # the connection sits idle past the threshold

    assert await _backend_pid(engine) != first  # pinged, found dead, connected afresh


async def test_a_connection_used_moments_ago_is_handed_out_without_a_ping(
    engine: AsyncEngine, own_postgres: PostgresCluster
) -> None:
    """The price of skipping the ping: a backend that died within the idle threshold fails the
    next statement, as a disconnect (an unavailable database), and the pool starts afresh."""
    first = await _backend_pid(engine)
    await _terminate(own_postgres, first)

    # Which error the driver reports depends on whether it had read the server's "terminating
    # connection" message before the next statement went out: a lost connection (a DBAPIError),
    # or, caught mid-way, asyncpg's "another operation is in progress". Both must read as an
    # unavailable database and both must make the pool start afresh.
    with pytest.raises((DBAPIError, asyncpg.exceptions.InternalClientError)) as failed:
        await _backend_pid(engine)

    assert is_database_unavailable(failed.value), repr(failed.value)
    assert await _backend_pid(engine) != first


async def test_a_connection_whose_driver_lost_track_of_its_state_is_discarded(
    engine: AsyncEngine,
) -> None:
    first = await _backend_pid(engine)
    confuse_next_statement = True

    # The driver's execute raises, as asyncpg's does on a connection whose operation was cut off.
    @event.listens_for(engine.sync_engine, "do_execute")
    def as_after_a_cut_off_operation(*_: Any) -> bool:
        nonlocal confuse_next_statement
        if confuse_next_statement:
            confuse_next_statement = False
            raise asyncpg.exceptions.InternalClientError(
                "cannot switch to state 15; another operation (2) is in progress"
            )
        return False  # the driver runs the statement

    with pytest.raises(asyncpg.exceptions.InternalClientError) as failed:
        await _backend_pid(engine)

    assert is_database_unavailable(failed.value), repr(failed.value)
    assert await _backend_pid(engine) != first  # not handed out again
