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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass(eq=False)
class _Ready:
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


@dataclass(eq=False)
class _InFlight:
    """One record of a batch, from its span's start to its outcome."""

    record: ConsumerRecord[bytes, bytes]
    headers: list[tuple[str, bytes]]
    event_type: str
    span: Span
    started: float
    ready: _Ready | None = None
    outcome: Outcome | None = field(default=None)


class _HandlerFailed(Exception):
    """A handler of a batch raised: the batch is rolled back; `index` is the culprit's."""

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(f"handler of batch record {index} failed: {error!r}")
        self.index = index
        self.error = error


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
        batch_timeout_s: float | None = None,
    ) -> None:
        """`batch_timeout_s` (default: `handler_timeout_s`, at most 5 s) bounds one batch's
        transaction; a batch that takes longer is rolled back and handled record by record,
        so one slow record does not hold back its neighbours' commits."""
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
        self._batch_timeout_s = (
            batch_timeout_s if batch_timeout_s is not None else min(handler_timeout_s, 5.0)
        )

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

    async def process_batch(
        self, records: Sequence[ConsumerRecord[bytes, bytes]], done: Callable[[int], None]
    ) -> None:
        """Records of one partition, in offset order: the checks that need no database record
        by record, then the valid ones in ONE transaction (one multi-row inbox insert finds
        the new ones; their handlers run in order). If a handler fails, the batch times out
        or the commit fails, the batch is rolled back and its records are handled one by one
        (in-place retries, retry topics, DLQ), the culprit's failed attempt counting as its
        first. `done(offset + 1)` is called, in order, once every record up to `offset` has a
        final outcome. Never raises, except when cancelled (unfinished records are left
        uncommitted)."""
        if len(records) == 1:
            await self.process(records[0])
            done(records[0].offset + 1)
            return
        flights: list[_InFlight] = []
        reported = 0

        def finish(flight: _InFlight, outcome: Outcome) -> None:
            flight.outcome = outcome
            self._end_span(flight.span, outcome)
            self._count(flight.event_type, outcome, flight.started)

        def advance() -> None:
            nonlocal reported
            last: _InFlight | None = None
            while reported < len(flights) and flights[reported].outcome is not None:
                last = flights[reported]
                reported += 1
            if last is not None:
                done(last.record.offset + 1)

        try:
            for record in records:
                headers = _headers(record)
                values = header_values(headers)
                flight = _InFlight(
                    record,
                    headers,
                    values.get("ce_type", "")[:200],
                    self._start_span(record, values),
                    time.perf_counter(),
                )
                flights.append(flight)
                with _current(flight.span):
                    prepared = await self._prepare(record, headers, flight.span)
                if isinstance(prepared, _Ready):
                    flight.ready = prepared
                else:
                    finish(flight, prepared)
            ready = [flight for flight in flights if flight.ready is not None]
            if not ready:
                advance()
                return
            culprit: _HandlerFailed | None = None
            try:
                async with asyncio.timeout(self._batch_timeout_s):
                    handled = await self._handle_batch([f.ready for f in ready if f.ready])
            except _HandlerFailed as failed:
                culprit = failed
            except Exception as error:  # a timeout, or the commit failed
                log.info(
                    "a batch of %d records failed; handling them one by one: %r",
                    len(ready),
                    error,
                    extra={"group": self._group},
                )
            else:
                for flight, new in zip(ready, handled, strict=True):
                    finish(flight, "processed" if new else "duplicate")
                advance()
                return
            advance()  # records finished before the batch (invalid, unknown) may be final
            for index, flight in enumerate(ready):
                assert flight.ready is not None
                first_error = culprit.error if culprit and culprit.index == index else None
                with _current(flight.span):
                    outcome = await self._handle(flight.ready, first_error)
                finish(flight, outcome)
                advance()
        finally:
            for flight in flights:
                if flight.outcome is None:  # cancelled: left uncommitted
                    flight.span.end()

    async def _handle_batch(self, batch: list[_Ready]) -> list[bool]:
        """Inbox rows and the handlers' writes in one transaction; per record, False for a
        duplicate (already in the inbox, or earlier in the same batch)."""
        async with self._database.transaction() as session:
            rows = sorted({ready.envelope.id: ready.envelope.type for ready in batch}.items())
            inserted = await session.execute(
                insert(INBOX)
                .values([{"event_id": event_id, "event_type": type_} for event_id, type_ in rows])
                .on_conflict_do_nothing(index_elements=[INBOX.c.event_id])
                .returning(INBOX.c.event_id)
            )
            new = {row[0] for row in inserted}
            handled: list[bool] = []
            for index, ready in enumerate(batch):
                if ready.envelope.id not in new:
                    handled.append(False)
                    continue
                new.discard(ready.envelope.id)
                attempt = ready.attempts_before + 1
                ready.span.set_attribute("flotilla.event.attempt", attempt)
                context = EventContext(ready.envelope, self._outbox, attempt)
                try:
                    with _current(ready.span):
                        async with asyncio.timeout(self._handler_timeout_s):
                            await ready.registration.handler(session, ready.event, context)
                except Exception as error:
                    raise _HandlerFailed(index, error) from error
                handled.append(True)
        return handled

    def _start_span(self, record: ConsumerRecord[bytes, bytes], values: Mapping[str, str]) -> Span:
        return self._tracer.start_span(
            f"process {record.topic}",
            context=propagate.extract({k: v for k, v in values.items() if k in TRACE_HEADERS}),
            kind=SpanKind.CONSUMER,
            attributes=_span_attributes(self._group, record, values),
            record_exception=False,
            set_status_on_exception=False,
        )

    @staticmethod
    def _end_span(span: Span, outcome: Outcome) -> None:
        span.set_attribute("flotilla.event.outcome", outcome)
        if outcome in ("retried", "dead_lettered", "invalid"):
            span.set_status(StatusCode.ERROR, outcome)
        span.end()

    def _count(self, event_type: str, outcome: Outcome, started: float) -> None:
        EVENTS_CONSUMED.labels(self._group, event_type, outcome).inc()
        EVENT_PROCESSING_DURATION.labels(self._group, event_type).observe(
            time.perf_counter() - started
        )

    async def _process(
        self, record: ConsumerRecord[bytes, bytes], headers: list[tuple[str, bytes]], span: Span
    ) -> Outcome:
        ready = await self._prepare(record, headers, span)
        if isinstance(ready, _Ready):
            return await self._handle(ready)
        return ready

    async def _dead_letter(
        self,
        record: ConsumerRecord[bytes, bytes],
        headers: list[tuple[str, bytes]],
        origin: Origin,
        reason: DeadLetterReason,
        error: BaseException | str,
        attempts: int,
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

    async def _prepare(
        self, record: ConsumerRecord[bytes, bytes], headers: list[tuple[str, bytes]], span: Span
    ) -> Outcome | _Ready:
        """The checks that need no database: a final outcome, or a record ready to handle."""
        forwarded = record.topic in self._retry_topics
        origin = Origin.of(
            record.topic, record.partition, record.offset, headers, forwarded=forwarded
        )
        attempts_before = attempts_of(headers) if forwarded else 0

        async def dead_letter(reason: DeadLetterReason, error: BaseException | str) -> None:
            await self._dead_letter(record, headers, origin, reason, error, attempts_before)

        size = len(record.value or b"")
        if size > self._max_event_bytes:
            await dead_letter(
                "too_large", RecordTooLarge(f"{size} bytes > {self._max_event_bytes}")
            )
            return "invalid"
        try:
            envelope = EventEnvelope.from_kafka(record.key, record.value, headers)
            if len(envelope.id) > _MAX_EVENT_ID:
                raise InvalidEnvelope(f"ce_id longer than {_MAX_EVENT_ID} characters")
        except InvalidEnvelope as error:
            await dead_letter("invalid_envelope", error)
            return "invalid"
        span.set_attribute("messaging.message.id", envelope.id)
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
        return _Ready(
            record, headers, span, origin, forwarded, attempts_before, envelope, registration, event
        )

    async def _handle(self, ready: _Ready, first_error: BaseException | None = None) -> Outcome:
        """Handle one record alone: in-place retries, then the retry topics, then the DLQ.
        `first_error` is the failure of its first attempt, already made in a batch."""
        record, span, attempts_before = ready.record, ready.span, ready.attempts_before

        async def dead_letter(
            reason: DeadLetterReason, error: BaseException | str, attempts: int
        ) -> None:
            await self._dead_letter(record, ready.headers, ready.origin, reason, error, attempts)

        last_error: BaseException = RuntimeError("no attempt made")
        for tried in range(1, self._policy.in_place_attempts + 1):
            attempt = attempts_before + tried
            span.set_attribute("flotilla.event.attempt", attempt)
            try:
                if tried == 1 and first_error is not None:
                    raise first_error
                async with asyncio.timeout(self._handler_timeout_s):
                    handled = await self._handle_once(
                        ready.registration, ready.event, ready.envelope, attempt
                    )
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
                    ready.envelope.id,
                    attempt,
                    error,
                    extra={"group": self._group, "event_type": ready.envelope.type},
                )
                if tried < self._policy.in_place_attempts:
                    await asyncio.sleep(self._policy.backoff_s(tried))
                continue
            return "processed" if handled else "duplicate"

        attempts = attempts_before + self._policy.in_place_attempts
        tier = self._retry_topics.index(record.topic) + 1 if ready.forwarded else 0
        if tier < len(self._retry_topics):
            delay_s = self._policy.retry_delays_s[tier]
            try:
                await self._forwarder.to_retry(
                    self._retry_topics[tier],
                    key=record.key,
                    value=record.value,
                    headers=ready.headers,
                    origin=ready.origin,
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


def _current(span: Span) -> Any:
    """Make `span` current (its exceptions are recorded by the caller, not here)."""
    return trace.use_span(
        span, end_on_exit=False, record_exception=False, set_status_on_exception=False
    )


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
