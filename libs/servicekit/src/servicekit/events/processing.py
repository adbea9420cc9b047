"""One record, start to outcome: screen it, handle it once, or send it onward.

    the checks that need no database     screening.py  (too large, not a CloudEvent, no
                                                        handler for the type, invalid data
                                                        → DLQ or skipped)
    in ONE transaction: insert the event id into the inbox (ON CONFLICT DO NOTHING);
        already there                    → skipped (duplicate)
        else the handler runs            → processed when the transaction commits
    a failing handler                    escalation.py (PermanentError → DLQ; else retried
                                                        in place, then the next retry topic,
                                                        then the DLQ)
    the database or Kafka unavailable    DependencyUnavailable raised (outages.py): the
                                         records are handled again once it answers

Records of one partition are handled in batches: one transaction for the batch, and one by one
(with escalation) when it fails. Each record gets a CONSUMER span (consumer_spans.py), current
while its handler runs, so the outbox rows it appends continue the same trace.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from opentelemetry.trace import Span

from servicekit.db.engine import Database
from servicekit.events.consumer_spans import (
    current,
    end_consumer_span,
    record_headers,
    start_consumer_span,
)
from servicekit.events.escalation import Escalation
from servicekit.events.forwarding import Forwarder, ForwardingFailed
from servicekit.events.handlers import EventContext, HandlerRegistry
from servicekit.events.inbox import claim_batch
from servicekit.events.metrics import (
    EVENT_PROCESSING_DURATION,
    EVENTS_CONSUMED,
    UNKNOWN_TYPE_LABEL,
    Outcome,
)
from servicekit.events.outages import DependencyUnavailable, Outages
from servicekit.events.outbox import Outbox
from servicekit.events.retry import RetryPolicy, header_values
from servicekit.events.screening import Admitted, RecordScreen

__all__ = ["RecordProcessor"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _InFlight:
    """One record of a batch, from its span's start to its outcome."""

    record: ConsumerRecord[bytes, bytes]
    headers: list[tuple[str, bytes]]
    event_type: str
    span: Span
    started: float
    admitted: Admitted | None = None
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
        outages: Outages,
        batch_timeout_s: float | None = None,
        topic_owners: Mapping[str, str] | None = None,
    ) -> None:
        """`batch_timeout_s` (default: `handler_timeout_s`, at most 5 s) bounds one batch's
        transaction; a batch that takes longer is rolled back and handled record by record,
        so one slow record does not hold back its neighbours' commits."""
        self._group = group
        self._database = database
        self._outbox = outbox
        self._handler_timeout_s = handler_timeout_s
        self._tracer = tracer
        self._registry = registry
        self._outages = outages
        self._screen = RecordScreen(
            registry=registry,
            forwarder=forwarder,
            retry_topics=retry_topics,
            max_event_bytes=max_event_bytes,
            unknown_types=unknown_types,
            topic_owners=topic_owners or {},
        )
        self._escalation = Escalation(
            group=group,
            database=database,
            outbox=outbox,
            forwarder=forwarder,
            policy=policy,
            retry_topics=retry_topics,
            handler_timeout_s=handler_timeout_s,
            outages=outages,
        )
        self._batch_timeout_s = (
            batch_timeout_s if batch_timeout_s is not None else min(handler_timeout_s, 5.0)
        )

    async def process(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        """Never raises, except when cancelled or on `DependencyUnavailable` (the record is
        then left uncommitted)."""
        started = time.perf_counter()
        headers = record_headers(record)
        values = header_values(headers)
        span = start_consumer_span(self._tracer, self._group, record, values)
        try:
            with current(span):
                screened = await self._screen.screen(record, headers, span)
                if isinstance(screened, Admitted):
                    outcome = await self._escalation.handle(screened)
                else:
                    outcome = screened
        except ForwardingFailed as error:
            span.end()
            raise DependencyUnavailable("kafka", error) from error
        except BaseException:
            span.end()  # cancelled: left uncommitted
            raise
        end_consumer_span(span, outcome)
        self._count(values.get("ce_type", "")[:200], outcome, started)
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
        final outcome. Never raises, except when cancelled or on `DependencyUnavailable`
        (unfinished records are left uncommitted; its `settled` names the finished ones)."""
        if len(records) == 1:
            await self.process(records[0])
            done(records[0].offset + 1)
            return
        flights: list[_InFlight] = []
        reported = 0

        def finish(flight: _InFlight, outcome: Outcome) -> None:
            flight.outcome = outcome
            end_consumer_span(flight.span, outcome)
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
                headers = record_headers(record)
                values = header_values(headers)
                flight = _InFlight(
                    record,
                    headers,
                    values.get("ce_type", "")[:200],
                    start_consumer_span(self._tracer, self._group, record, values),
                    time.perf_counter(),
                )
                flights.append(flight)
                with current(flight.span):
                    screened = await self._screen.screen(record, headers, flight.span)
                if isinstance(screened, Admitted):
                    flight.admitted = screened
                else:
                    finish(flight, screened)
            ready = [flight for flight in flights if flight.admitted is not None]
            if not ready:
                advance()
                return
            culprit: _HandlerFailed | None = None
            try:
                async with asyncio.timeout(self._batch_timeout_s):
                    handled = await self._handle_batch([f.admitted for f in ready if f.admitted])
            except _HandlerFailed as failed:
                culprit = failed
                reason = await self._outages.classify(failed.error)
                if reason is not None:
                    raise DependencyUnavailable(reason, failed.error) from failed.error
            except Exception as error:  # a timeout, or the commit failed
                reason = await self._outages.classify(error)
                if reason is not None:
                    raise DependencyUnavailable(reason, error) from error
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
                assert flight.admitted is not None
                first_error = culprit.error if culprit and culprit.index == index else None
                with current(flight.span):
                    outcome = await self._escalation.handle(flight.admitted, first_error)
                finish(flight, outcome)
                advance()
        except DependencyUnavailable as outage:
            outage.settled = frozenset(f.record.offset for f in flights if f.outcome is not None)
            advance()
            raise
        except ForwardingFailed as error:
            kafka = DependencyUnavailable("kafka", error)
            kafka.settled = frozenset(f.record.offset for f in flights if f.outcome is not None)
            advance()
            raise kafka from error
        finally:
            for flight in flights:
                if flight.outcome is None:  # cancelled: left uncommitted
                    flight.span.end()

    async def _handle_batch(self, batch: list[Admitted]) -> list[bool]:
        """Inbox rows and the handlers' writes in one transaction; per record, False for a
        duplicate (already in the inbox, or earlier in the same batch)."""
        async with self._database.transaction() as session:
            new = await claim_batch(session, [admitted.envelope for admitted in batch])
            handled: list[bool] = []
            for index, admitted in enumerate(batch):
                if admitted.envelope.id not in new:
                    handled.append(False)
                    continue
                new.discard(admitted.envelope.id)
                attempt = admitted.attempts_before + 1
                admitted.span.set_attribute("flotilla.event.attempt", attempt)
                context = EventContext(admitted.envelope, self._outbox, attempt)
                try:
                    with current(admitted.span):
                        async with asyncio.timeout(self._handler_timeout_s):
                            await admitted.registration.handler(session, admitted.event, context)
                except Exception as error:
                    raise _HandlerFailed(index, error) from error
                handled.append(True)
        return handled

    def _count(self, event_type: str, outcome: Outcome, started: float) -> None:
        # Only the types this group handles become label values: anyone who can write to a
        # topic can invent types, and each new value would be a new time series forever.
        if self._registry.get(event_type) is None:
            event_type = UNKNOWN_TYPE_LABEL
        EVENTS_CONSUMED.labels(self._group, event_type, outcome).inc()
        EVENT_PROCESSING_DURATION.labels(self._group, event_type).observe(
            time.perf_counter() - started
        )
