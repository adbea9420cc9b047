"""The inbox: the event ids a group has handled, so a redelivered event has one effect.

A row is inserted in the same transaction as the handler's writes (`ON CONFLICT DO NOTHING`):
an id that is already there is a duplicate, and the handler does not run again.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.events.envelope import EventEnvelope
from servicekit.events.tables import INBOX

__all__ = ["MAX_EVENT_ID", "claim", "claim_batch"]

MAX_EVENT_ID = 200  # the inbox's event_id column


async def claim(session: AsyncSession, envelope: EventEnvelope) -> bool:
    """Insert the event's id; False when it was already there (a duplicate)."""
    inserted = await session.execute(
        insert(INBOX)
        .values(event_id=envelope.id, event_type=envelope.type)
        .on_conflict_do_nothing(index_elements=[INBOX.c.event_id])
        .returning(INBOX.c.event_id)
    )
    return inserted.first() is not None


async def claim_batch(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> set[str]:
    """Insert the events' ids in one statement; the ids that were new (each id once, however
    often it occurs in `envelopes`)."""
    rows = sorted({envelope.id: envelope.type for envelope in envelopes}.items())
    inserted = await session.execute(
        insert(INBOX)
        .values([{"event_id": event_id, "event_type": type_} for event_id, type_ in rows])
        .on_conflict_do_nothing(index_elements=[INBOX.c.event_id])
        .returning(INBOX.c.event_id)
    )
    return {row[0] for row in inserted}
