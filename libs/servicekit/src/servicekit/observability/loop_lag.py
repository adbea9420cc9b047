"""Event-loop lag: how late the loop runs a timer that is due.

An async service is saturated when its one loop is busy (CPU-bound work, a blocking call, too
many tasks), long before CPU or the pool says so: every request and every consumed event then
waits in the loop's queue. A task sleeps `interval_s` at a time and records how much later than
that it woke up, in `flotilla_event_loop_lag_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from servicekit.observability.metrics import EVENT_LOOP_LAG

__all__ = ["EventLoopLagMonitor"]


class EventLoopLagMonitor:
    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s

    async def measure_once(self) -> float:
        """Sleep one interval; returns (and records) how late the loop woke this task."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(self.interval_s)
        lag = max(0.0, loop.time() - started - self.interval_s)
        EVENT_LOOP_LAG.observe(lag)
        return lag

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Measure for as long as the block runs (the app's lifespan)."""
        task = asyncio.create_task(self._run(), name="event-loop-lag")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await self.measure_once()
