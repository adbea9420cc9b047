"""The sweeper: cancels every open order past its deadline (docs/architecture.md, the order saga).

A background task of the app's lifespan, like the outbox relay. Every `interval_s` it cancels
overdue orders in batches, one transaction each, until none is left. Several replicas sweep
at once safely: a batch locks its orders with `FOR UPDATE SKIP LOCKED`, so replicas take
disjoint batches, and an order a consumer is moving right now is skipped and looked at again
next round (by then it may be final). A failed round (the database is down) is logged and the
next one tries again. "Past its deadline" is decided by the database's clock, the one every
replica shares (servicekit.db.clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from orders.handlers import cancel_overdue_orders
from orders.metrics import OVERDUE_OLDEST_AGE, OVERDUE_ORDERS
from orders.repository import OrderRepository
from orders.settings import OrdersSettings
from servicekit import LifespanHook, ServiceContext
from servicekit.db import Database
from servicekit.events import Outbox

__all__ = ["OverdueSweeper", "overdue_sweeper"]

log = logging.getLogger(__name__)


class OverdueSweeper:
    def __init__(
        self, database: Database, outbox: Outbox, *, interval_s: float, batch_size: int
    ) -> None:
        self._database = database
        self._outbox = outbox
        self.interval_s = interval_s
        self.batch_size = batch_size
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> int:
        """One round: cancel every order overdue now; returns how many."""
        cancelled = 0
        while True:
            async with self._database.transaction() as session:
                count = await cancel_overdue_orders(session, self._outbox, limit=self.batch_size)
            cancelled += count
            if count < self.batch_size:
                return cancelled

    async def measure_overdue(self) -> int:
        """Record what is still overdue after a round (what the sweeper could not cancel)."""
        async with self._database.transaction() as session:
            count, oldest_age_s = await OrderRepository(session).overdue_summary()
        OVERDUE_ORDERS.set(count)
        OVERDUE_OLDEST_AGE.set(oldest_age_s)
        return count

    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="orders-overdue-sweeper")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except TimeoutError:
                log.warning("the sweeper did not stop in time; its round is abandoned")
            self._task = None

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                cancelled = await self.sweep()
            except Exception:
                log.warning("sweeping overdue orders failed; trying again", exc_info=True)
            else:
                if cancelled:
                    log.info("overdue orders cancelled", extra={"count": cancelled})
            try:
                await self.measure_overdue()
            except Exception:
                log.warning("measuring overdue orders failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval_s)


def overdue_sweeper(context: ServiceContext[OrdersSettings]) -> LifespanHook:
    """service.toml's `background`: the sweeper runs with the app."""
    assert context.outbox is not None  # orders publishes `orders.order`
    sweeper = OverdueSweeper(
        context.database,
        context.outbox,
        interval_s=context.settings.sweep_interval_s,
        batch_size=context.settings.sweep_batch_size,
    )
    return sweeper.lifespan
