"""Saturation signals: the event loop's lag, the connection pool's waiting checkouts and the
requests in flight."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from servicekit.app import create_app
from servicekit.db.engine import Database
from servicekit.observability.loop_lag import EventLoopLagMonitor
from servicekit.observability.metrics import EVENT_LOOP_LAG
from servicekit.settings import ServiceSettings


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


async def test_requests_in_flight_are_counted_by_method_until_they_end() -> None:
    """`http_server_active_requests`: the requests running now, the scrape's own included; a
    request that fails is taken away like one that succeeds."""
    release, both_held = asyncio.Event(), asyncio.Event()
    held_now: list[None] = []
    router = APIRouter()

    @router.get("/held")
    async def held() -> dict[str, bool]:
        held_now.append(None)
        if len(held_now) == 2:
            both_held.set()
        await release.wait()
        return {"released": True}

    @router.get("/broken")
    async def broken() -> None:
        raise RuntimeError("the handler fails")

    settings = ServiceSettings(
        service_name="probe",
        db_schema="probe",
        # Nothing listens here: this test never touches the database.
        database_url="postgresql+asyncpg://probe:pw@127.0.0.1:9/probe",
        log_format="console",
    )
    app = create_app(settings, routers=[router])
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:

            async def in_flight() -> float:
                scraped = (await http.get("/metrics")).text
                found = re.search(
                    r'^http_server_active_requests\{http_request_method="GET"\} (\S+)$',
                    scraped,
                    flags=re.MULTILINE,
                )
                assert found is not None, "no in-flight GET series"
                return float(found.group(1))

            before = await in_flight()
            holding = [asyncio.create_task(http.get("/held")) for _ in range(2)]
            async with asyncio.timeout(10):
                await both_held.wait()
            assert await in_flight() - before == 2
            release.set()
            assert all(response.status_code == 200 for response in await asyncio.gather(*holding))
            assert (await http.get("/broken")).status_code == 500
            assert await in_flight() == before
