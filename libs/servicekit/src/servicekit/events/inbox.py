"""The inbox: the event ids a group has handled, so a redelivered event has one effect.

A row is inserted in the same transaction as the handler's writes (`ON CONFLICT DO NOTHING`):
an id that is already there is a duplicate, and the handler does not run again. Both inserts
are compiled once (servicekit.db.statements): they run once per consumed event.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db.direct_statements import direct
from servicekit.events.envelope import EventEnvelope
from servicekit.events.tables import INBOX

__all__ = ["MAX_EVENT_ID", "claim", "claim_batch"]

MAX_EVENT_ID = 200  # the inbox's event_id column

_CLAIM = direct(
    insert(INBOX)
    .values(event_id=bindparam("event_id"), event_type=bindparam("event_type"))
    .on_conflict_do_nothing(index_elements=[INBOX.c.event_id])
    .returning(INBOX.c.event_id)
)

# A batch of any size is one statement (two arrays, unnested in their order), so it is compiled
# once too, where a multi-row VALUES would be a new statement for each batch size.
_BATCH = (
    func.unnest(
        bindparam("event_ids", type_=ARRAY(String)), bindparam("event_types", type_=ARRAY(String))
    )
    .table_valued("event_id", "event_type")
    .render_derived()
)
_CLAIM_BATCH = direct(
    insert(INBOX)
    .from_select(["event_id", "event_type"], select(_BATCH.c.event_id, _BATCH.c.event_type))
    .on_conflict_do_nothing(index_elements=[INBOX.c.event_id])
    .returning(INBOX.c.event_id)
)


async def claim(session: AsyncSession, envelope: EventEnvelope) -> bool:
    """Insert the event's id; False when it was already there (a duplicate)."""
    inserted = await _CLAIM.run(session, {"event_id": envelope.id, "event_type": envelope.type})
    return inserted.first() is not None


async def claim_batch(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> set[str]:
    """Insert the events' ids in one statement; the ids that were new (each id once, however
    often it occurs in `envelopes`). They are inserted in id order, so two batches that share
    ids take their row locks in the same order."""
    rows = sorted({envelope.id: envelope.type for envelope in envelopes}.items())
    inserted = await _CLAIM_BATCH.run(
        session,
        {
            "event_ids": [event_id for event_id, _ in rows],
            "event_types": [type_ for _, type_ in rows],
        },
    )
    return {row[0] for row in inserted}
