"""Item 9: the inbox does not grow forever. Event ids older than the retention are purged in
batches by a background task (servicekit.events.inbox_retention), counted in
`flotilla_rows_purged_total{table="inbox"}`; a retention too short to outlive a redelivery
through the group's retry tiers (deploy/topics.yaml) is refused at start-up."""

from __future__ import annotations

import pytest
from sqlalchemy import literal_column, select
from sqlalchemy.dialects.postgresql import insert

from contracts.topology import load_topology
from orders.main import build_app
from orders.settings import OrdersSettings
from servicekit.db.engine import Database
from servicekit.db.retention import ROWS_PURGED
from servicekit.events.inbox_retention import (
    REDELIVERY_ALLOWANCE_S,
    InboxRetentionSettings,
    inbox_purger,
)
from servicekit.events.tables import INBOX
from servicekit.ids import new_id

DAY_S = 86_400


async def _handled(database: Database, age: str) -> str:
    event_id = new_id("evt")
    async with database.transaction() as session:
        await session.execute(
            insert(INBOX).values(
                event_id=event_id,
                event_type="test.event.v1",
                processed_at=literal_column(f"now() - interval '{age}'"),
            )
        )
    return event_id


async def test_event_ids_older_than_the_retention_are_purged_in_batches(
    database: Database,
) -> None:
    old = [await _handled(database, "3 days 1 second") for _ in range(5)]
    recent = await _handled(database, "2 days 23 hours")
    settings = InboxRetentionSettings(inbox_retention_s=3 * DAY_S)
    purger = inbox_purger(
        database, settings, retry_delays_s=(2.0, 10.0), batch_size=2
    )  # three batches for five old ids
    before = ROWS_PURGED.labels("inbox")._value.get()

    purged = await purger.purge_once()

    async with database.transaction() as session:
        left = set((await session.scalars(select(INBOX.c.event_id))).all())
    assert not left & set(old)
    assert recent in left
    assert purged["inbox"] >= 5  # (other tests' rows are younger than three days)
    assert ROWS_PURGED.labels("inbox")._value.get() - before == purged["inbox"]


def test_a_retention_shorter_than_the_redelivery_window_is_refused(
    orders_settings: OrdersSettings, database: Database
) -> None:
    delays = load_topology().group("orders").retry_delays_s
    window = sum(delays) + REDELIVERY_ALLOWANCE_S
    too_short = orders_settings.model_copy(update={"inbox_retention_s": window})
    with pytest.raises(ValueError, match="must exceed the longest redelivery window"):
        inbox_purger(database, too_short, retry_delays_s=delays)
    long_enough = orders_settings.model_copy(update={"inbox_retention_s": window + 1})
    inbox_purger(database, long_enough, retry_delays_s=delays)
    with pytest.raises(ValueError, match="must exceed the longest redelivery window"):
        build_app(too_short)
