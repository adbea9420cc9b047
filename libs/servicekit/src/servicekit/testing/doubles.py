"""In-memory doubles for a service's fast tests (`make test-unit`): no Postgres, no Kafka.

`OutboxRecorder` is an `Outbox` that keeps what would be written instead of inserting it: the
same envelopes (id, source, subject, schema, trace context) and the topic, key, headers and
payload the real outbox row would have. `EventHarness` delivers an event to the handler a
`HandlerRegistry` holds, as the consumer does (payload decoded by the handler's model, an
`EventContext` with the envelope, the recorder and the attempt), and returns the follow-up
events it appended; a handler that raises leaves none, as the rolled-back transaction would.

A handler that needs its session (it reads or writes state) is not a unit: the harness hands it
a session that fails on first use, saying so; test that handler against Postgres instead.

Both are held to the real implementation by the contract tests in servicekit's
`tests/test_outbox_contract.py` and `tests/consumer/test_harness_contract.py`, which run the
same test function over the double and over Postgres and Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Event
from servicekit.events.envelope import EventEnvelope
from servicekit.events.handlers import EventContext, HandlerRegistry
from servicekit.events.outbox import Outbox, headers_json
from servicekit.ids import new_id

__all__ = ["EventHarness", "OutboxRecorder", "RecordedEvent", "event_context"]

EventT = TypeVar("EventT", bound=Event)


@dataclass(frozen=True)
class RecordedEvent:
    """One outbox row as the relay would publish it."""

    topic: str
    key: str
    event_type: str
    headers: dict[str, str]
    payload: bytes
    envelope: EventEnvelope = field(compare=False)

    def event(self, model: type[EventT]) -> EventT:
        """The payload decoded as `model` (refused when the type is another one)."""
        if self.event_type != model.EVENT_TYPE:
            raise TypeError(f"recorded {self.event_type}, not {model.EVENT_TYPE}")
        return model.model_validate_json(self.payload)


class OutboxRecorder(Outbox):
    """An `Outbox` that records in memory; `recorded` lists every append in order."""

    def __init__(self, service: str = "unit-test", schema_base_url: str | None = None) -> None:
        super().__init__(service, schema_base_url)
        self.recorded: list[RecordedEvent] = []

    async def append_many(
        self, session: AsyncSession, events: Sequence[Event]
    ) -> list[EventEnvelope]:
        envelopes = self.envelopes_for(events)
        self.recorded += [
            RecordedEvent(
                topic=event.TOPIC,
                key=envelope.subject,
                event_type=envelope.type,
                headers=headers_json(envelope),
                payload=envelope.data,
                envelope=envelope,
            )
            for event, envelope in zip(events, envelopes, strict=True)
        ]
        return envelopes

    def events(self, model: type[EventT]) -> list[EventT]:
        """Every recorded event of `model`'s type, decoded, in order."""
        return [
            recorded.event(model)
            for recorded in self.recorded
            if recorded.event_type == model.EVENT_TYPE
        ]


class _NoDatabase:
    """The session a unit-tested handler gets: any use says the handler needs Postgres."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(
            f"the handler used its database session (session.{name}): it is not a unit; "
            "test it against Postgres, or pass EventHarness(session=...)"
        )


def event_context(
    event: Event, outbox: Outbox, *, attempt: int = 1, source: str = "/unit-test", **envelope: Any
) -> EventContext:
    """What the consumer hands a handler with `event`: its envelope (a new event id and the
    time now, unless `envelope` says otherwise), `outbox` and the `attempt`. For tests that
    call a handler themselves, on a real session or a double."""
    delivered = EventEnvelope(
        id=envelope.pop("id", None) or new_id("evt"),
        type=event.EVENT_TYPE,
        source=source,
        subject=event.subject(),
        time=envelope.pop("time", None) or datetime.now(UTC),
        data=event.model_dump_json().encode(),
        **envelope,
    )
    return EventContext(delivered, outbox, attempt)


class EventHarness:
    """Deliver events to a registry's handlers in memory, as `EventConsumer` would."""

    def __init__(
        self,
        registry: HandlerRegistry,
        *,
        service: str = "unit-test",
        session: AsyncSession | None = None,
        outbox: OutboxRecorder | None = None,
    ) -> None:
        self.registry = registry
        self.outbox = outbox or OutboxRecorder(service)
        self.session = session if session is not None else cast(AsyncSession, _NoDatabase())
        self.seen: list[EventEnvelope] = []

    async def deliver(
        self, event: Event, *, attempt: int = 1, source: str = "/unit-test", **envelope: Any
    ) -> list[RecordedEvent]:
        """Run the handler of `event`'s type once; returns the events it appended. Raises what
        the handler raised (`PermanentError` dead-letters, anything else is retried), and
        LookupError when no handler is registered for the type."""
        registration = self.registry.get(event.EVENT_TYPE)
        if registration is None:
            raise LookupError(f"no handler is registered for {event.EVENT_TYPE}")
        context = event_context(event, self.outbox, attempt=attempt, source=source, **envelope)
        # The consumer decodes the record's bytes with the handler's model; so does this.
        decoded = registration.model.model_validate_json(context.envelope.data)
        self.seen.append(context.envelope)
        before = len(self.outbox.recorded)
        try:
            await registration.handler(self.session, decoded, context)
        except BaseException:
            del self.outbox.recorded[before:]  # the consumer's transaction rolls back
            raise
        return self.outbox.recorded[before:]
