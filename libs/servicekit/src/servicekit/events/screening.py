"""The checks a consumed record passes before any database work, in this order:

    too large                      → DLQ (too_large), without parsing
    not a CloudEvent               → DLQ (invalid_envelope)
    type owned by another service
      than the topic's owner       → DLQ (type_not_owned_by_topic)
    no handler for the type        → counted and skipped (or DLQ, unknown_type)
    data does not fit the model    → DLQ (invalid_payload)

A record that passes them all is `Admitted`: parsed, with its handler, ready for a transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka.structs import ConsumerRecord
from opentelemetry.trace import Span
from pydantic import ValidationError

from contracts.registry import type_owner
from servicekit.events.dead_letters import DeadLetterReason
from servicekit.events.envelope import EventEnvelope, InvalidEnvelope
from servicekit.events.forwarding import Forwarder, RecordTooLarge
from servicekit.events.handlers import HandlerRegistry, Registration
from servicekit.events.inbox import MAX_EVENT_ID
from servicekit.events.metrics import Outcome
from servicekit.events.retry import Origin, attempts_of

__all__ = ["Admitted", "ForeignEventType", "InvalidPayload", "RecordScreen", "UnknownEventType"]


class InvalidPayload(ValueError):
    """The record's data does not parse as its event type's model."""


class ForeignEventType(ValueError):
    """The record's type belongs to another service than the one that owns the topic: only
    a topic's owner publishes on it, so this is a forgery or a misrouted event."""


class UnknownEventType(LookupError):
    """No handler is registered for the record's `ce_type` (type or major version)."""


@dataclass(eq=False)
class Admitted:
    """A record past the checks that need no database, ready for its handler."""

    record: ConsumerRecord[bytes, bytes]
    headers: list[tuple[str, bytes]]
    span: Span
    origin: Origin
    forwarded: bool
    attempts_before: int
    envelope: EventEnvelope
    registration: Registration[Any]
    event: Any


class RecordScreen:
    def __init__(
        self,
        *,
        registry: HandlerRegistry,
        forwarder: Forwarder,
        retry_topics: list[str],
        max_event_bytes: int,
        unknown_types: Literal["skip", "dlq"],
        topic_owners: Mapping[str, str],
    ) -> None:
        """`topic_owners`: topic → owning service; records on other topics (a test's own)
        are not checked for ownership."""
        self._registry = registry
        self._forwarder = forwarder
        self._retry_topics = retry_topics
        self._max_event_bytes = max_event_bytes
        self._unknown_types = unknown_types
        self._topic_owners = topic_owners

    async def screen(
        self, record: ConsumerRecord[bytes, bytes], headers: list[tuple[str, bytes]], span: Span
    ) -> Outcome | Admitted:
        """A final outcome (the record was dead-lettered or skipped), or the admitted record."""
        forwarded = record.topic in self._retry_topics
        origin = Origin.of(
            record.topic, record.partition, record.offset, headers, forwarded=forwarded
        )
        attempts_before = attempts_of(headers) if forwarded else 0

        async def dead_letter(reason: DeadLetterReason, error: BaseException | str) -> None:
            await self._forwarder.dead_letter(
                record, headers, origin, reason, error, attempts_before
            )

        size = len(record.value or b"")
        if size > self._max_event_bytes:
            await dead_letter(
                "too_large", RecordTooLarge(f"{size} bytes > {self._max_event_bytes}")
            )
            return "invalid"
        try:
            envelope = EventEnvelope.from_kafka(record.key, record.value, headers)
            if len(envelope.id) > MAX_EVENT_ID:
                raise InvalidEnvelope(f"ce_id longer than {MAX_EVENT_ID} characters")
        except InvalidEnvelope as error:
            await dead_letter("invalid_envelope", error)
            return "invalid"
        span.set_attribute("messaging.message.id", envelope.id)
        # The original topic, not the retry topic it came back from: ownership is the stream's.
        owner = self._topic_owners.get(origin.topic)
        if owner is not None and type_owner(envelope.type) != owner:
            await dead_letter(
                "type_not_owned_by_topic",
                ForeignEventType(
                    f"type {envelope.type[:200]!r} is not {owner}'s, the owner of {origin.topic}"
                ),
            )
            return "invalid"
        registration = self._registry.get(envelope.type)
        if registration is None:
            if self._unknown_types == "dlq":
                await dead_letter(
                    "unknown_type", UnknownEventType(f"no handler for {envelope.type}")
                )
            return "unknown_type"
        try:
            event = registration.model.model_validate_json(envelope.data)
        except ValidationError as error:
            await dead_letter("invalid_payload", InvalidPayload(_brief(error)))
            return "invalid"
        return Admitted(
            record, headers, span, origin, forwarded, attempts_before, envelope, registration, event
        )


def _brief(error: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in problem['loc']) or '<root>'}: {problem['msg']}"
        for problem in error.errors(include_input=False, include_url=False)[:5]
    ]
    return f"{error.title}: " + "; ".join(problems)
