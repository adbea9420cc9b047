"""Charges and refunds are kept for `charge_retention_s`, then deleted by a background task
(servicekit.db.retention): the provider's tables do not grow forever. A refund goes first; a
charge goes once it is old enough and no refund refers to it any more (a refund is never older
than its charge, so a refunded charge outlives its refund by at most one round)."""

from __future__ import annotations

from sqlalchemy import exists, not_, select

from psp.settings import PspSettings
from psp.tables import charges, refunds
from servicekit import LifespanHook, ServiceContext
from servicekit.db import Database, Retention, RetentionPurger

__all__ = ["charge_purger", "charge_purger_task"]


def charge_purger_task(context: ServiceContext[PspSettings]) -> LifespanHook:
    """service.toml's `background`: the purger runs with the app."""
    return charge_purger(context.database, context.settings).lifespan


def charge_purger(database: Database, settings: PspSettings) -> RetentionPurger:
    unrefunded = not_(exists(select(refunds.c.id).where(refunds.c.charge_id == charges.c.id)))
    return RetentionPurger(
        database,
        [
            Retention(refunds, "created_at", keep_s=settings.charge_retention_s),
            Retention(
                charges, "created_at", keep_s=settings.charge_retention_s, only_if=unrefunded
            ),
        ],
        interval_s=settings.purge_interval_s,
    )
