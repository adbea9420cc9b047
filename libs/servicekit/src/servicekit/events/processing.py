"""One record, start to outcome: parse, look up the handler, handle it once, or send it onward.

    too large                      → DLQ (too_large), without parsing
    not a CloudEvent               → DLQ (invalid_envelope)
    no handler for the type        → counted and skipped (or DLQ, unknown_type)
    data does not fit the model    → DLQ (invalid_payload)
    in ONE transaction: insert the event id into the inbox (ON CONFLICT DO NOTHING);
        already there              → skipped (duplicate)
        else the handler runs      → processed when the transaction commits
    PermanentError                 → DLQ (permanent_error)
    anything else (or a timeout)   → retried in place, then the next retry topic, then the DLQ

Each record gets a CONSUMER span whose parent comes from its `traceparent` header; the span is
current while the handler runs, so the outbox rows it appends continue the same trace.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, Literal

from aiokafka.structs import ConsumerRecord
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, StatusCode
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert

from servicekit.db.engine import Database
from servicekit.events.dead_letters import DeadLetterReason
from servicekit.events.envelope import EventEnvelope, InvalidEnvelope
from servicekit.events.forwarding import Forwarder, RecordTooLarge
from servicekit.events.handlers import EventContext, HandlerRegistry, PermanentError, Registration
from servicekit.events.metrics import EVENT_PROCESSING_DURATION, EVENTS_CONSUMED, Outcome
from servicekit.events.outbox import Outbox
from servicekit.events.retry import (
    TRACE_HEADERS,
    Origin,
    RetryPolicy,
    attempts_of,
    epoch_ms,
    header_values,
)
from servicekit.events.tables import INBOX

__all__ = ["InvalidPayload", "RecordProcessor", "UnknownEventType"]

log = logging.getLogger(__name__)

_MAX_EVENT_ID = 200  # the inbox's event_id column


class InvalidPayload(ValueError):
    """The record's data does not parse as its event type's model."""


class UnknownEventType(LookupError):
    """No handler is registered for the record's `ce_type` (type or major version)."""


class RecordProcessor:
    def __init__(
        self,
        *,
        group: str,
        registry: HandlerRegistry,
        database: Database,
        outbox: Outbox,
        forwarder: Forwarder,
        policy: RetryPolicy,
        retry_topics: list[str],
        handler_timeout_s: float,
        max_event_bytes: int,
        unknown_types: Literal["skip", "dlq"],
        tracer: trace.Tracer,
    ) -> None:
        self._group = group
        self._registry = registry
        self._database = database
        self._outbox = outbox
        self._forwarder = forwarder
        self._policy = policy
        self._retry_topics = retry_topics
        self._handler_timeout_s = handler_timeout_s
        self._max_event_bytes = max_event_bytes
        self._unknown_types = unknown_types
        self._tracer = tracer

    async def process(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        """Never raises, except when cancelled (the record is then left uncommitted)."""
        started = time.perf_counter()
        headers = _headers(record)
        values = header_values(headers)
        event_type = values.get("ce_type", "")[:200]
        with self._tracer.start_as_current_span(
            f"process {record.topic}",
            context=propagate.extract({k: v for k, v in values.items() if k in TRACE_HEADERS}),
            kind=SpanKind.CONSUMER,
            attributes=_span_attributes(self._group, record, values),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            outcome = await self._process(record, headers, span)
            span.set_attribute("flotilla.event.outcome", outcome)
            if outcome in ("retried", "dead_lettered", "invalid"):
                span.set_status(StatusCode.ERROR, outcome)
        EVENTS_CONSUMED.labels(self._group, event_type, outcome).inc()
        EVENT_PROCESSING_DURATION.labels(self._group, event_type).observe(
            time.perf_counter() - started
        )
        return outcome

    async def _process(
        self, record: ConsumerRecord[bytes, bytes], headers: list[tuple[str, bytes]], span: Span
    ) -> Outcome:
        forwarded = record.topic in self._retry_topics
        origin = Origin.of(
            record.topic, record.partition, record.offset, headers, forwarded=forwarded
        )
        attempts_before = attempts_of(headers) if forwarded else 0

        async def dead_letter(
            reason: DeadLetterReason, error: BaseException | str, attempts: int
        ) -> None:
            log.warning(
                "dead-lettering %s:%s:%s (%s): %s",
                record.topic,
                record.partition,
                record.offset,
                reason,
                error,
                extra={"group": self._group},
            )
            await self._forwarder.to_dlq(
                key=record.key,
                value=record.value,
                headers=headers,
                origin=origin,
                reason=reason,
                error=error,
                attempts=attempts,
            )

        size = len(record.value or b"")
        if size > self._max_event_bytes:
            too_large = RecordTooLarge(f"{size} bytes > {self._max_event_bytes}")
            await dead_letter("too_large", too_large, attempts_before)
            return "invalid"
        try:
            envelope = EventEnvelope.from_kafka(record.key, record.value, headers)
            if len(envelope.id) > _MAX_EVENT_ID:
                raise InvalidEnvelope(f"ce_id longer than {_MAX_EVENT_ID} characters")
        except InvalidEnvelope as error:
            await dead_letter("invalid_envelope", error, attempts_before)
            return "invalid"
        span.set_attribute("messaging.message.id", envelope.id)
        registration = self._registry.get(envelope.type)
        if registration is None:
            if self._unknown_types == "dlq":
                unknown = UnknownEventType(f"no handler for {envelope.type}")
                await dead_letter("unknown_type", unknown, attempts_before)
            return "unknown_type"
        try:
            event = registration.model.model_validate_json(envelope.data)
        except ValidationError as error:
            await dead_letter("invalid_payload", InvalidPayload(_brief(error)), attempts_before)
            return "invalid"

        last_error: BaseException = RuntimeError("no attempt made")
        for tried in range(1, self._policy.in_place_attempts + 1):
            attempt = attempts_before + tried
            span.set_attribute("flotilla.event.attempt", attempt)
            try:
                async with asyncio.timeout(self._handler_timeout_s):
                    handled = await self._handle_once(registration, event, envelope, attempt)
            except PermanentError as error:
                span.record_exception(error)
                await dead_letter("permanent_error", error, attempt)
                return "dead_lettered"
            except Exception as error:
                last_error = error
                if isinstance(error, TimeoutError):
                    last_error = TimeoutError(
                        f"handler took longer than {self._handler_timeout_s}s"
                    )
                span.record_exception(last_error)
                log.info(
                    "handling %s failed (attempt %d): %r",
                    envelope.id,
                    attempt,
                    error,
                    extra={"group": self._group, "event_type": envelope.type},
                )
                if tried < self._policy.in_place_attempts:
                    await asyncio.sleep(self._policy.backoff_s(tried))
                continue
            return "processed" if handled else "duplicate"

        attempts = attempts_before + self._policy.in_place_attempts
        tier = self._retry_topics.index(record.topic) + 1 if forwarded else 0
        if tier < len(self._retry_topics):
            delay_s = self._policy.retry_delays_s[tier]
            try:
                await self._forwarder.to_retry(
                    self._retry_topics[tier],
                    key=record.key,
                    value=record.value,
                    headers=headers,
                    origin=origin,
                    attempts=attempts,
                    not_before_ms=epoch_ms(time.time() + delay_s),
                    error=last_error,
                )
            except RecordTooLarge as error:
                await dead_letter("too_large", error, attempts)
                return "invalid"
            return "retried"
        await dead_letter("retries_exhausted", last_error, attempts)
        return "dead_lettered"

    async def _handle_once(
        self, registration: Registration[Any], event: Any, envelope: EventEnvelope, attempt: int
    ) -> bool:
        """Inbox row and the handler's writes in one transaction; False for a duplicate."""
        async with self._database.transaction() as session:
            inserted = await session.execute(
                insert(INBOX)
                .values(event_id=envelope.id, event_type=envelope.type)
                .on_conflict_do_nothing(index_elements=[INBOX.c.event_id])
                .returning(INBOX.c.event_id)
            )
            if inserted.first() is None:
                return False
            await registration.handler(
                session, event, EventContext(envelope, self._outbox, attempt)
            )
        return True


def _headers(record: ConsumerRecord[bytes, bytes]) -> list[tuple[str, bytes]]:
    return [(name, value if value is not None else b"") for name, value in record.headers]


def _span_attributes(
    group: str, record: ConsumerRecord[bytes, bytes], values: Mapping[str, str]
) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": record.topic,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.consumer.group.name": group,
        "messaging.kafka.consumer.group": group,
        "messaging.kafka.offset": record.offset,
    }
    if values.get("ce_id"):
        attributes["messaging.message.id"] = values["ce_id"]
    if record.key is not None:
        attributes["messaging.kafka.message.key"] = record.key.decode(errors="replace")
    if values.get("ce_type"):
        attributes["flotilla.event.type"] = values["ce_type"]
    return attributes


def _brief(error: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in problem['loc']) or '<root>'}: {problem['msg']}"
        for problem in error.errors(include_input=False, include_url=False)[:5]
    ]
    return f"{error.title}: " + "; ".join(problems)
