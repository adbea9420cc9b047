"""Postgres dying under a running statement is an unavailable database (503 with Retry-After,
and an outage for consumers), not a bug (500).

SQLAlchemy's asyncpg adapter reports "connection was closed in the middle of operation" as a
plain DBAPIError: found by the storm with Postgres killed (tests/chaos), where requests in
flight at the kill got 500s. Reproduced with a cluster of this test's own whose backend is
killed (SIGKILL) while it sleeps in a statement.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.requests import Request

from devstack.postgres import PostgresCluster
from servicekit.db.engine import Database
from servicekit.db.errors import is_database_unavailable
from servicekit.errors import _on_database_error
from servicekit.testing.events import eventually


@pytest.fixture
async def database(own_postgres: PostgresCluster) -> AsyncIterator[Database]:
    engine = create_async_engine(own_postgres.admin_dsn("postgres", driver="postgresql+asyncpg"))
    yield Database(engine)
    await engine.dispose()


async def _error_of_a_statement_whose_backend_dies(database: Database) -> BaseException:
    connection = await database.engine.connect()
    pid = int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())
    sleeping = asyncio.create_task(connection.execute(text("SELECT pg_sleep(30)")))

    async def asleep_on_the_server() -> bool:
        async with database.engine.connect() as watcher:
            state = await watcher.scalar(
                text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
        return state == "active"

    await eventually(asleep_on_the_server, what="the statement running on the server")
    os.kill(pid, signal.SIGKILL)
    try:
        await sleeping
    except Exception as error:  # the error is what the test inspects
        return error
    finally:
        await connection.invalidate()
        await connection.close()
    raise AssertionError("the statement survived its backend")


async def test_a_backend_killed_under_a_statement_is_an_unavailable_database(
    database: Database,
) -> None:
    error = await _error_of_a_statement_whose_backend_dies(database)
    assert is_database_unavailable(error), repr(error)
    request = Request({"type": "http", "method": "POST", "path": "/v1/things", "headers": []})
    response = await _on_database_error(request, error)  # type: ignore[arg-type]
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
