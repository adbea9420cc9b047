"""Expired idempotency records are deleted in batches by a background task of each replica
(batches skip rows another replica is deleting)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from servicekit.db.engine import Database
from servicekit.idempotency.records import purge_expired

__all__ = ["IdempotencyPurger"]

log = logging.getLogger(__name__)


class IdempotencyPurger:
    def __init__(self, database: Database, *, interval_s: float, batch_size: int = 1000) -> None:
        self._database = database
        self._interval_s = interval_s
        self._batch_size = batch_size

    async def purge_once(self) -> int:
        """Delete every record expired by now, one batch per transaction."""
        now = datetime.now(UTC)
        total = 0
        while True:
            async with self._database.transaction() as session:
                deleted = await purge_expired(session, batch_size=self._batch_size, now=now)
            total += deleted
            if deleted < self._batch_size:
                return total

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                purged = await self.purge_once()
            except Exception as error:  # the database may be down; try again next round
                log.warning("idempotency purge failed", extra={"error_type": type(error).__name__})
                continue
            if purged:
                log.info("idempotency records purged", extra={"count": purged})

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self.run(), name="idempotency-purger")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
