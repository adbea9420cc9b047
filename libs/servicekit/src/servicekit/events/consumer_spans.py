"""Each consumed record's CONSUMER span, by OpenTelemetry's messaging conventions.

The span's parent comes from the record's `traceparent` header; the span is made current while
the record's handler runs, so the outbox rows it appends continue the same trace, and it ends
with the record's outcome (an error status for the outcomes that mean something went wrong).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka.structs import ConsumerRecord
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, StatusCode

from servicekit.events.metrics import Outcome
from servicekit.events.retry import TRACE_HEADERS

__all__ = ["current", "end_consumer_span", "record_headers", "start_consumer_span"]

_FAILED: frozenset[Outcome] = frozenset({"retried", "dead_lettered", "invalid"})


def record_headers(record: ConsumerRecord[bytes, bytes]) -> list[tuple[str, bytes]]:
    """The record's headers, a header without a value read as empty."""
    return [(name, value if value is not None else b"") for name, value in record.headers]


def start_consumer_span(
    tracer: trace.Tracer,
    group: str,
    record: ConsumerRecord[bytes, bytes],
    values: Mapping[str, str],
) -> Span:
    """Started, not current: the caller makes it current around the work (`current`)."""
    return tracer.start_span(
        f"process {record.topic}",
        context=propagate.extract({k: v for k, v in values.items() if k in TRACE_HEADERS}),
        kind=SpanKind.CONSUMER,
        attributes=_span_attributes(group, record, values),
        record_exception=False,
        set_status_on_exception=False,
    )


def end_consumer_span(span: Span, outcome: Outcome) -> None:
    span.set_attribute("flotilla.event.outcome", outcome)
    if outcome in _FAILED:
        span.set_status(StatusCode.ERROR, outcome)
    span.end()


def current(span: Span) -> Any:
    """Make `span` current (its exceptions are recorded by the caller, not here)."""
    return trace.use_span(
        span, end_on_exit=False, record_exception=False, set_status_on_exception=False
    )


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
