"""The transactional outbox: events are rows written in the caller's transaction.

`Outbox.append` inserts the event, with its CloudEvents attributes and the current trace
context, in the same transaction as the state change it describes: both commit or neither
does. The relay (`relay.py`) publishes committed rows; when the transaction commits, the
relay in this process is woken at once (polling covers other processes and missed wake-ups).

Any number of events is one INSERT built once (arrays unnested in their order, as the inbox's
claim): a statement built per call costs more CPU than the round trip it makes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from opentelemetry import propagate
from sqlalchemy import LargeBinary, String, Text, bindparam, cast, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Event
from servicekit.db.commit_hooks import after_commit
from servicekit.db.direct_statements import direct
from servicekit.events.envelope import EventEnvelope
from servicekit.events.tables import OUTBOX
from servicekit.ids import new_id

__all__ = ["Outbox"]

_APPENDED = (
    func.unnest(
        bindparam("event_ids", type_=ARRAY(String)),
        bindparam("event_types", type_=ARRAY(String)),
        bindparam("topics", type_=ARRAY(String)),
        bindparam("keys", type_=ARRAY(String)),
        bindparam("headers", type_=ARRAY(Text)),
        bindparam("payloads", type_=ARRAY(LargeBinary)),
    )
    .table_valued(
        "event_id", "event_type", "topic", "key", "headers", "payload", with_ordinality="n"
    )
    .render_derived()
)
_APPEND = direct(
    insert(OUTBOX).from_select(
        ["event_id", "event_type", "topic", "key", "headers", "payload"],
        select(
            _APPENDED.c.event_id,
            _APPENDED.c.event_type,
            _APPENDED.c.topic,
            _APPENDED.c.key,
            cast(_APPENDED.c.headers, JSONB),
            _APPENDED.c.payload,
        ).order_by(_APPENDED.c.n),
    )
)
"""The events' rows, their ids (the relay's order) following the given order."""


class Outbox:
    def __init__(self, service: str, schema_base_url: str | None = None) -> None:
        """`schema_base_url`: where the platform serves the events' JSON Schemas
        (`<base>/<event type>.json`); each record then names its schema in `ce_dataschema`."""
        self.source = f"/{service}"
        self.schema_base_url = schema_base_url.rstrip("/") if schema_base_url else None
        self.committed = asyncio.Event()
        """Set after a transaction that appended events commits; the relay waits on it."""

    async def append(self, session: AsyncSession, event: Event) -> EventEnvelope:
        [envelope] = await self.append_many(session, [event])
        return envelope

    async def append_many(
        self, session: AsyncSession, events: Sequence[Event]
    ) -> list[EventEnvelope]:
        """Append several events with one INSERT, in the given order (each as
        `append` would: its own id, the current trace context)."""
        if not events:
            return []
        envelopes = self.envelopes_for(events)
        await _APPEND.run(
            session,
            {
                "event_ids": [envelope.id for envelope in envelopes],
                "event_types": [envelope.type for envelope in envelopes],
                "topics": [event.TOPIC for event in events],
                "keys": [envelope.subject for envelope in envelopes],
                "headers": [json.dumps(headers_json(envelope)) for envelope in envelopes],
                "payloads": [envelope.data for envelope in envelopes],
            },
        )
        after_commit(session, self.committed.set)
        return envelopes

    def envelopes_for(self, events: Sequence[Event]) -> list[EventEnvelope]:
        """The envelopes `append_many` writes: each its own id, this service as the source,
        the current trace context (servicekit.testing's OutboxRecorder records the same)."""
        trace_headers: dict[str, str] = {}
        propagate.inject(trace_headers)
        now = datetime.now(UTC)
        return [
            EventEnvelope(
                id=new_id("evt"),
                type=event.EVENT_TYPE,
                source=self.source,
                subject=event.subject(),
                time=now,
                data=event.model_dump_json().encode(),
                trace_headers=dict(trace_headers),
                dataschema=self.dataschema_for(event.EVENT_TYPE),
            )
            for event in events
        ]

    def dataschema_for(self, event_type: str) -> str | None:
        return f"{self.schema_base_url}/{event_type}.json" if self.schema_base_url else None


def headers_json(envelope: EventEnvelope) -> dict[str, Any]:
    return {name: value.decode() for name, value in envelope.kafka_headers()}
