"""How long the inbox remembers an event id, checked against how late a copy can come back.

The inbox makes a redelivered event a duplicate only while its id is still there. A copy of a
handled event can come back:

    - at once: the relay published it twice (its `published_at` write failed), or a rebalance
      handed the partition over before the offset was committed;
    - after the retry tiers: a record that a tier retried is handled `sum(retry delays)` after
      its first attempt, and a copy of it may be on another tier;
    - after a replay: an operator resets the group's offsets, as far back as the topic keeps
      records (deploy/topics.yaml: 7 days for the event topics).

So the retention must exceed the longest of these. Settings refuse a retention that is not
longer than the retry tiers plus `REDELIVERY_ALLOWANCE_S` (the first kind, and slack); the
default, 14 days, also outlives a replay from the oldest record the event topics keep. A reset
further back than the retention re-applies the events the inbox has forgotten: don't.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

from servicekit.db.engine import Database
from servicekit.db.retention import Retention, RetentionPurger
from servicekit.events.tables import INBOX

__all__ = [
    "REDELIVERY_ALLOWANCE_S",
    "InboxRetentionSettings",
    "inbox_purger",
    "redelivery_window_s",
]

REDELIVERY_ALLOWANCE_S = 3_600.0
"""Duplicates of the relay and of rebalances, and the in-place retries, with room to spare."""

DAY_S = 86_400.0


def redelivery_window_s(retry_delays_s: tuple[float, ...]) -> float:
    """How long after its first attempt a copy of a handled event may still arrive (replays by
    an operator aside)."""
    return sum(retry_delays_s) + REDELIVERY_ALLOWANCE_S


class InboxRetentionSettings(BaseSettings):
    """Mix into a consuming service's settings; the service sets its own retry delays."""

    consumer_retry_delays_s: tuple[float, ...] = (5.0, 60.0, 600.0)
    inbox_retention_s: float = Field(default=14 * DAY_S, gt=0)
    """How long a handled event's id stays in the inbox (see the module docstring)."""
    inbox_purge_interval_s: float = Field(default=600.0, gt=0)

    @model_validator(mode="after")
    def _retention_outlives_redelivery(self) -> InboxRetentionSettings:
        window = redelivery_window_s(self.consumer_retry_delays_s)
        if self.inbox_retention_s <= window:
            raise ValueError(
                f"INBOX_RETENTION_S={self.inbox_retention_s:g} must exceed the longest "
                f"redelivery window, {window:g} s (the retry delays plus "
                f"{REDELIVERY_ALLOWANCE_S:g} s): a copy arriving later would be handled again"
            )
        return self


def inbox_purger(
    database: Database, settings: InboxRetentionSettings, *, batch_size: int = 1000
) -> RetentionPurger:
    """The background task deleting inbox rows older than the retention (a lifespan hook)."""
    return RetentionPurger(
        database,
        [Retention(INBOX, "processed_at", keep_s=settings.inbox_retention_s)],
        interval_s=settings.inbox_purge_interval_s,
        batch_size=batch_size,
    )
