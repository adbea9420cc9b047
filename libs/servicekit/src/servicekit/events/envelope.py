"""CloudEvents 1.0 in Kafka binary mode: attributes in `ce_*` headers, the data as the value.

Any Kafka client in any language can produce or consume these records:

    key            the aggregate id (so one aggregate's events share a partition, in order)
    value          the event's JSON
    ce_specversion 1.0          ce_id       evt_…       ce_type  identity.user.registered.v1
    ce_source      /identity    ce_subject  usr_…       ce_time  RFC 3339 (UTC)
    ce_dataschema  <schema base URL>/identity.user.registered.v1.json (where the platform
                   serves the event's JSON Schema; when the service is told that base URL)
    content-type   application/json
    traceparent / tracestate    W3C trace context of the producing transaction
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["CONTENT_TYPE", "EventEnvelope", "InvalidEnvelope", "KafkaHeaders"]

CONTENT_TYPE = "application/json"
SPEC_VERSION = "1.0"
KafkaHeaders = list[tuple[str, bytes]]

_REQUIRED = ("ce_specversion", "ce_id", "ce_type", "ce_source")


class InvalidEnvelope(ValueError):
    """The record is not a CloudEvent we can read; the message says what is wrong."""


@dataclass(frozen=True)
class EventEnvelope:
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    data: bytes
    trace_headers: dict[str, str] = field(default_factory=dict)
    """`traceparent` and `tracestate`, when the producer had a trace."""
    dataschema: str | None = None
    """The URL of the event type's JSON Schema (CloudEvents `dataschema`)."""
    extensions: dict[str, str] = field(default_factory=dict)
    """Other headers (retry bookkeeping, DLQ reasons), kept verbatim."""

    def kafka_headers(self) -> KafkaHeaders:
        headers: KafkaHeaders = [
            ("ce_specversion", SPEC_VERSION.encode()),
            ("ce_id", self.id.encode()),
            ("ce_type", self.type.encode()),
            ("ce_source", self.source.encode()),
            ("ce_subject", self.subject.encode()),
            ("ce_time", self.time.astimezone(UTC).isoformat().encode()),
            ("content-type", CONTENT_TYPE.encode()),
        ]
        if self.dataschema:
            headers.append(("ce_dataschema", self.dataschema.encode()))
        headers.extend((name, value.encode()) for name, value in self.trace_headers.items())
        headers.extend((name, value.encode()) for name, value in self.extensions.items())
        return headers

    @property
    def key(self) -> bytes:
        return self.subject.encode()

    @classmethod
    def from_kafka(
        cls, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> EventEnvelope:
        values: dict[str, str] = {}
        for name, raw in headers:
            try:
                values[name] = raw.decode() if raw is not None else ""
            except UnicodeDecodeError:
                raise InvalidEnvelope(f"header {name!r} is not UTF-8") from None
        missing = [name for name in _REQUIRED if not values.get(name)]
        if missing:
            raise InvalidEnvelope(f"missing CloudEvents headers: {', '.join(missing)}")
        if values["ce_specversion"] != SPEC_VERSION:
            raise InvalidEnvelope(f"unsupported ce_specversion {values['ce_specversion']!r}")
        content_type = values.get("content-type", CONTENT_TYPE)
        if not content_type.startswith(CONTENT_TYPE):
            raise InvalidEnvelope(f"unsupported content-type {content_type!r}")
        if value is None:
            raise InvalidEnvelope("the record has no value")
        try:
            time = datetime.fromisoformat(values["ce_time"]) if values.get("ce_time") else None
        except ValueError:
            raise InvalidEnvelope(f"ce_time {values['ce_time']!r} is not RFC 3339") from None
        subject = values.get("ce_subject") or (key.decode(errors="replace") if key else "")
        known = {
            *_REQUIRED,
            "ce_time",
            "ce_subject",
            "ce_dataschema",
            "content-type",
            "traceparent",
            "tracestate",
        }
        return cls(
            id=values["ce_id"],
            type=values["ce_type"],
            source=values["ce_source"],
            subject=subject,
            time=time or datetime.now(UTC),
            data=value,
            trace_headers={k: values[k] for k in ("traceparent", "tracestate") if k in values},
            dataschema=values.get("ce_dataschema") or None,
            extensions={k: v for k, v in values.items() if k not in known},
        )
