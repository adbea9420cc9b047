"""Rows kept for a while, then deleted: a background task of each replica (like the
idempotency purge) deletes what is older than its table's retention, in batches.

    purger = RetentionPurger(database, [Retention(INBOX, "processed_at", keep_s=...)],
                             interval_s=600)
    app = create_app(settings, ..., lifespan_hooks=[..., purger.lifespan])

Age is measured by the database's clock (`now()`), the clock the rows were stamped with. A
batch locks its rows with `SKIP LOCKED`, so replicas purging at once take disjoint batches,
and each batch is its own short transaction. Every deleted row counts in
`flotilla_rows_purged_total{table}`. A failed round (the database is down) is logged and the
next round tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from prometheus_client import Counter
from sqlalchemy import ColumnElement, Table, and_, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db.engine import Database

__all__ = ["ROWS_PURGED", "Retention", "RetentionPurger", "purge_batch"]

log = logging.getLogger(__name__)

ROWS_PURGED = Counter(
    "flotilla_rows_purged_total",
    "Rows deleted because they outlived their table's retention, by table.",
    ["table"],
)


@dataclass(frozen=True)
class Retention:
    """Rows of `table` whose `stamped` column is more than `keep_s` in the past (and that
    satisfy `only_if`, when given) are deleted."""

    table: Table
    stamped: str
    keep_s: float
    only_if: ColumnElement[bool] | None = None


async def purge_batch(session: AsyncSession, retention: Retention, batch_size: int) -> int:
    """Delete up to `batch_size` expired rows, skipping rows another transaction holds."""
    table = retention.table
    key = list(table.primary_key.columns)
    condition: ColumnElement[bool] = table.c[retention.stamped] < func.now() - func.make_interval(
        0, 0, 0, 0, 0, 0, retention.keep_s
    )
    if retention.only_if is not None:
        condition = and_(condition, retention.only_if)
    expired = select(*key).where(condition).limit(batch_size).with_for_update(skip_locked=True)
    result = await session.execute(delete(table).where(tuple_(*key).in_(expired)))
    return int(result.rowcount)  # type: ignore[attr-defined]


class RetentionPurger:
    def __init__(
        self,
        database: Database,
        retentions: Sequence[Retention],
        *,
        interval_s: float,
        batch_size: int = 1000,
    ) -> None:
        self._database = database
        self._retentions = tuple(retentions)
        self._interval_s = interval_s
        self._batch_size = batch_size

    async def purge_once(self) -> dict[str, int]:
        """Delete everything expired now, table by table in the given order (a table whose
        rows others refer to comes last), one batch per transaction; rows deleted per table."""
        purged: dict[str, int] = {}
        for retention in self._retentions:
            name = retention.table.name
            purged[name] = 0
            while True:
                async with self._database.transaction() as session:
                    deleted = await purge_batch(session, retention, self._batch_size)
                ROWS_PURGED.labels(name).inc(deleted)
                purged[name] += deleted
                if deleted < self._batch_size:
                    break
        return purged

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                purged = await self.purge_once()
            except Exception as error:  # the database may be down; try again next round
                log.warning("retention purge failed", extra={"error_type": type(error).__name__})
                continue
            if any(purged.values()):
                log.info("expired rows purged", extra={"purged": purged})

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(self.run(), name="retention-purger")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
