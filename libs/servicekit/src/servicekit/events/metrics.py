"""The event consumer's Prometheus metrics, defined once (the `flotilla_` prefix marks ours).

Outcomes of `flotilla_events_consumed_total`, one per record:

    processed      the handler ran and its transaction committed
    duplicate      the event id was already in the inbox: skipped
    unknown_type   no handler for this `ce_type` (or version): skipped, or dead-lettered
    retried        transient failures exhausted the in-place attempts: sent to a retry topic
    dead_lettered  a permanent error, or the last retry tier failed: sent to the DLQ
    invalid        not a readable event (envelope, payload, size), or a type another service
                   owns on this topic (a forgery): sent to the DLQ at once; the DLQ's
                   `reason` label tells them apart
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "CONSUMER_FETCH_FAILING",
    "CONSUMER_LAG",
    "CONSUMER_PAUSED",
    "DLQ_PUBLISHED",
    "EVENTS_CONSUMED",
    "EVENT_PROCESSING_DURATION",
    "UNKNOWN_TYPE_LABEL",
    "Outcome",
]

Outcome = Literal["processed", "duplicate", "unknown_type", "retried", "dead_lettered", "invalid"]
# The `event_type` label of every type the group has no handler for (the label set stays
# bounded by the group's handlers, whatever types arrive).
UNKNOWN_TYPE_LABEL = "unknown"

EVENTS_CONSUMED = Counter(
    "flotilla_events_consumed_total",
    "Records consumed, by consumer group, event type and outcome.",
    ["group", "event_type", "outcome"],
)
EVENT_PROCESSING_DURATION = Histogram(
    "flotilla_event_processing_duration_seconds",
    "Time from picking a record up to its outcome (in-place retries included).",
    ["group", "event_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CONSUMER_LAG = Gauge(
    "flotilla_consumer_lag",
    "Records behind the partition's high watermark (high watermark - next offset to process).",
    ["group", "topic", "partition"],
)
DLQ_PUBLISHED = Counter(
    "flotilla_dlq_published_total",
    "Records published to the group's dead-letter topic, by reason.",
    ["group", "reason"],
)
CONSUMER_PAUSED = Gauge(
    "flotilla_consumer_paused",
    "1 while the group's consumer is paused waiting for an unavailable dependency (reason).",
    ["group", "reason"],
)
CONSUMER_FETCH_FAILING = Gauge(
    "flotilla_consumer_fetch_failing",
    "1 while the group's consumer cannot fetch (its last fetch failed, or it could not start:"
    " Kafka unreachable or refusing it, its topics missing); 0 once a fetch succeeds.",
    ["group"],
)
