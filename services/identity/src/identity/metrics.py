"""identity's business metrics, defined once. Counted only when the transaction commits
(`servicekit.db.after_commit`): a rolled-back or replayed sign-up is not a sign-up."""

from __future__ import annotations

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import after_commit

__all__ = ["SIGNUPS", "count_signup"]

SIGNUPS = Counter("flotilla_identity_signups_total", "Accounts created by sign-up.")


def count_signup(session: AsyncSession) -> None:
    after_commit(session, SIGNUPS.inc)
