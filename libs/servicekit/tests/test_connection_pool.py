"""A service's connection pool keeps the connections it opened (servicekit.db.engine).

A new connection costs a SCRAM handshake in the service and a forked backend in Postgres,
several ms of CPU on each side; a pool that closed connections between bursts of load would
pay that again and again. By default the pool opens connections as they are first needed, up
to its ceiling, and hands the same ones out from then on — the one handed back last first, so
that in a quiet moment the same connection serves request after request while the others wait,
idle, for the next burst (and are pinged before it, servicekit.db.liveness).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import event, text

from servicekit.db.engine import Database
from servicekit.settings import ServiceSettings


@pytest.fixture
async def database(
    scratch_database: Callable[[str, str], tuple[str, str]],
) -> AsyncIterator[Database]:
    admin_url, _ = scratch_database("pool_it", "public")
    settings = ServiceSettings(service_name="pool_it", db_schema="public", database_url=admin_url)
    database = Database.from_settings(settings)
    yield database
    await database.engine.dispose()


def _count_connections_opened(database: Database) -> list[object]:
    opened: list[object] = []
    event.listen(database.engine.sync_engine, "connect", lambda conn, record: opened.append(conn))
    return opened


async def _burst(database: Database, concurrent: int) -> None:
    """`concurrent` requests, each holding a connection until all of them hold one."""
    everyone_connected = asyncio.Barrier(concurrent)

    async def request() -> None:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await everyone_connected.wait()

    await asyncio.gather(*(request() for _ in range(concurrent)))


async def test_bursts_up_to_the_pools_ceiling_reuse_the_connections_the_first_one_opened(
    database: Database,
) -> None:
    ceiling = database.pool_status()["max"]
    assert ceiling == 15  # a pool of 15, no overflow (the settings' defaults)
    opened = _count_connections_opened(database)

    await _burst(database, ceiling)
    assert len(opened) == ceiling

    for _ in range(3):
        await _burst(database, ceiling)
    assert len(opened) == ceiling  # none closed when handed back, none opened again


async def test_quieter_moments_keep_the_connections_too(database: Database) -> None:
    opened = _count_connections_opened(database)
    await _burst(database, 12)
    await _burst(database, 2)
    await _burst(database, 12)

    assert len(opened) == 12


async def test_after_a_burst_one_request_at_a_time_runs_on_the_connection_used_last(
    database: Database,
) -> None:
    await _burst(database, database.pool_status()["max"])

    backends = set()
    for _ in range(20):
        async with database.engine.connect() as connection:
            backends.add(await connection.scalar(text("SELECT pg_backend_pid()")))

    assert len(backends) == 1  # not each of the burst's 15 in turn
