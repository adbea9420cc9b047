"""How long the inbox remembers an event id, checked against how late a copy can come back.

The inbox makes a redelivered event a duplicate only while its id is still there. A copy of a
handled event can come back:

    - at once: the relay published it twice (the delete of its sent rows failed), or a rebalance
      handed the partition over before the offset was committed;
    - after the retry tiers: a record that a tier retried is handled `sum(retry delays)` after
      its first attempt, and a copy of it may be on another tier;
    - after a replay: an operator resets the group's offsets, as far back as the topic keeps
      records (deploy/topics.yaml: 7 days for the event topics).

So the retention must exceed the longest of these. `inbox_purger` refuses (at start-up, where
the app is built) a retention that is not longer than the group's retry tiers (deploy/topics.yaml)
plus `REDELIVERY_ALLOWANCE_S` (the first kind, and slack); the
default, 14 days, also outlives a replay from the oldest record the event topics keep. A reset
further back than the retention re-applies the events the inbox has forgotten: don't.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field
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


def redelivery_window_s(retry_delays_s: Sequence[float]) -> float:
    """How long after its first attempt a copy of a handled event may still arrive (replays by
    an operator aside)."""
    return sum(retry_delays_s) + REDELIVERY_ALLOWANCE_S


class InboxRetentionSettings(BaseSettings):
    """Mix into a consuming service's settings."""

    inbox_retention_s: float = Field(default=14 * DAY_S, gt=0)
    """How long a handled event's id stays in the inbox (see the module docstring)."""
    inbox_purge_interval_s: float = Field(default=600.0, gt=0)


def inbox_purger(
    database: Database,
    settings: InboxRetentionSettings,
    *,
    retry_delays_s: Sequence[float],
    batch_size: int = 1000,
) -> RetentionPurger:
    """The background task deleting inbox rows older than the retention (a lifespan hook).
    `retry_delays_s` are the consumer's (`consumer.policy.retry_delays_s`); raises ValueError
    when the retention does not outlive them (see the module docstring)."""
    window = redelivery_window_s(retry_delays_s)
    if settings.inbox_retention_s <= window:
        raise ValueError(
            f"INBOX_RETENTION_S={settings.inbox_retention_s:g} must exceed the longest "
            f"redelivery window, {window:g} s (the retry delays plus "
            f"{REDELIVERY_ALLOWANCE_S:g} s): a copy arriving later would be handled again"
        )
    return RetentionPurger(
        database,
        [Retention(INBOX, "processed_at", keep_s=settings.inbox_retention_s)],
        interval_s=settings.inbox_purge_interval_s,
        batch_size=batch_size,
    )
