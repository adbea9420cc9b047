"""Saturation signals: the event loop's lag and the connection pool's waiting checkouts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from servicekit.db.engine import Database
from servicekit.observability.loop_lag import EventLoopLagMonitor
from servicekit.observability.metrics import EVENT_LOOP_LAG


async def test_a_blocked_loop_shows_as_lag() -> None:
    monitor = EventLoopLagMonitor(interval_s=0.01)
    before = EVENT_LOOP_LAG._sum.get()  # the histogram's running sum

    async def block() -> None:
        await asyncio.sleep(0)
        time.sleep(0.2)  # noqa: ASYNC251  # the point: a blocking call on the loop

    measuring = asyncio.create_task(monitor.measure_once())
    await block()
    lag = await measuring
    assert lag >= 0.15
    assert EVENT_LOOP_LAG._sum.get() - before >= 0.15


async def test_an_idle_loop_has_little_lag() -> None:
    assert await EventLoopLagMonitor(interval_s=0.01).measure_once() < 0.1


@pytest.fixture
async def one_connection_pool(
    scratch_database: Callable[[str, str], tuple[str, str]],
) -> AsyncIterator[Database]:
    admin_url, _ = scratch_database("saturation_it", "unused")
    database = Database(
        create_async_engine(admin_url, pool_size=1, max_overflow=0, pool_timeout=10)
    )
    yield database
    await database.dispose()


async def test_the_pool_counts_checkouts_waiting_for_a_connection(
    one_connection_pool: Database,
) -> None:
    database = one_connection_pool
    assert database.pool_status()["waiting"] == 0
    assert database.pool_status()["max"] == 1
    async with database.engine.connect() as holding:
        await holding.execute(text("SELECT 1"))

        async def second() -> None:
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

        waiting = asyncio.create_task(second())
        deadline = time.monotonic() + 5
        while database.pool_status()["waiting"] != 1:
            assert time.monotonic() < deadline, "the second checkout never queued"
            await asyncio.sleep(0.01)
    await waiting
    assert database.pool_status()["waiting"] == 0
