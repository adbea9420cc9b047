"""The consumer's concurrency slots: at most `n` batches processed at once, across partitions.

A batch holds its slot while it works, and gives it back while it only waits — for Kafka to
take a forwarded record again (`sleep_outside`, the forwarder's back-off) or for an unavailable
dependency (`outages.py`, outside any slot) — so one stuck partition cannot stall the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

__all__ = ["ConcurrencySlots"]


class ConcurrencySlots:
    def __init__(self, n: int) -> None:
        self._semaphore = asyncio.Semaphore(n)
        self._holding: ContextVar[bool] = ContextVar(f"holding-slot-{id(self)}", default=False)

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        async with self._semaphore:
            token = self._holding.set(True)
            try:
                yield
            finally:
                self._holding.reset(token)

    async def sleep_outside(self, delay_s: float) -> None:
        """Sleep, without the current task's slot if it holds one (taken back afterwards)."""
        if not self._holding.get():
            await asyncio.sleep(delay_s)
            return
        self._semaphore.release()
        try:
            await asyncio.sleep(delay_s)
        finally:
            await self._semaphore.acquire()
