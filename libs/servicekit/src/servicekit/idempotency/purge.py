"""Expired idempotency records are deleted in batches by a background task of each replica:
a `RetentionPurger` on the records' `expires_at`, so they go by the database's clock, in
batches that skip rows another replica is deleting, counted in `flotilla_rows_purged_total`."""

from __future__ import annotations

from servicekit.db.engine import Database
from servicekit.db.retention import Retention, RetentionPurger
from servicekit.idempotency.records import IDEMPOTENCY_RECORDS

__all__ = ["IdempotencyPurger"]


class IdempotencyPurger(RetentionPurger):
    def __init__(self, database: Database, *, interval_s: float, batch_size: int = 1000) -> None:
        super().__init__(
            database,
            [Retention(IDEMPOTENCY_RECORDS, "expires_at", keep_s=0)],
            interval_s=interval_s,
            batch_size=batch_size,
        )
