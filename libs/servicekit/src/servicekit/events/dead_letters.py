"""The group's dead-letter topic `<group>.dlq`: what a letter says, and reading them back.

A dead letter is the original record (key, value, CloudEvents headers) plus headers that say
why it was given up on:

    flotilla_dlq_reason          invalid_envelope | invalid_payload | too_large | unknown_type |
                                 type_not_owned_by_topic | permanent_error | retries_exhausted
    flotilla_error_type          the error's class name (or empty)
    flotilla_error_message       what went wrong, truncated
    flotilla_attempts            handler attempts made (0 when it was never handled)
    flotilla_original_topic      where it was first consumed from
    flotilla_original_partition
    flotilla_original_offset
    flotilla_failed_at           RFC 3339, UTC
    flotilla_consumer_group      the group that gave up
    flotilla_payload_omitted     the value's size, when it was too large for the DLQ itself

Redriving a letter (`python -m servicekit.dlq redrive`) appends a *marker* to the same DLQ
partition — key `flotilla-dlq-marker`, no value, headers `flotilla_dlq_marker: redriven`,
`flotilla_redriven_partition`, `flotilla_redriven_offset`, `flotilla_redriven_at` and
`flotilla_redriven_to` — so whoever reads the topic next knows the letter was redriven,
without any state outside Kafka.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from servicekit.events.kafka_security import KafkaSecurity
from servicekit.events.retry import (
    ATTEMPTS,
    EXTENSION_PREFIX,
    NOT_BEFORE,
    ORIGINAL_OFFSET,
    ORIGINAL_PARTITION,
    ORIGINAL_TOPIC,
    epoch_ms,
    header_values,
)

__all__ = [
    "CONSUMER_GROUP",
    "DLQ_REASON",
    "FAILED_AT",
    "MARKER_KEY",
    "PAYLOAD_OMITTED",
    "REDRIVEN_FROM",
    "DeadLetter",
    "DeadLetterReason",
    "UnknownDeadLetterTopic",
    "dlq_topic",
    "now_rfc3339",
    "read_dead_letters",
    "topic_partitions",
]

DeadLetterReason = Literal[
    "invalid_envelope",
    "invalid_payload",
    "too_large",
    "unknown_type",
    "type_not_owned_by_topic",
    "permanent_error",
    "retries_exhausted",
]

DLQ_REASON = "flotilla_dlq_reason"
FAILED_AT = "flotilla_failed_at"
CONSUMER_GROUP = "flotilla_consumer_group"
PAYLOAD_OMITTED = "flotilla_payload_omitted"
REDRIVEN_FROM = "flotilla_redriven_from"
MARKER = "flotilla_dlq_marker"
REDRIVEN_PARTITION = "flotilla_redriven_partition"
REDRIVEN_OFFSET = "flotilla_redriven_offset"
REDRIVEN_AT = "flotilla_redriven_at"
REDRIVEN_TO = "flotilla_redriven_to"
MARKER_KEY = b"flotilla-dlq-marker"  # Kafka wants a key or a value; a marker has no value

# Kept when a letter is redriven: where it came from. Other bookkeeping starts afresh.
_KEPT_ON_REDRIVE = (ORIGINAL_TOPIC, ORIGINAL_PARTITION, ORIGINAL_OFFSET)


def dlq_topic(group: str) -> str:
    return f"{group}.dlq"


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class UnknownDeadLetterTopic(LookupError):
    """The broker has no such dead-letter topic (an unknown group, or a typo)."""


@dataclass
class DeadLetter:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    redriven_at: list[str] = field(default_factory=list)
    """When it was redriven, oldest first (empty: never)."""

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str:
        return header_values(self.headers).get(name, "")

    @property
    def event_id(self) -> str:
        return self.header("ce_id")

    @property
    def event_type(self) -> str:
        return self.header("ce_type")

    @property
    def reason(self) -> str:
        return self.header(DLQ_REASON)

    @property
    def original_topic(self) -> str:
        return self.header(ORIGINAL_TOPIC)

    @property
    def failed_at(self) -> str:
        return self.header(FAILED_AT)

    @property
    def payload_omitted(self) -> bool:
        return bool(self.header(PAYLOAD_OMITTED))

    def redrive_headers(self, topic: str) -> list[tuple[str, bytes]]:
        """The headers of the copy sent back to the group: attempts reset, due now."""
        kept = [
            (name, value)
            for name, value in self.headers
            if not name.startswith(EXTENSION_PREFIX) or name in _KEPT_ON_REDRIVE
        ]
        kept += [
            (ATTEMPTS, b"0"),
            (NOT_BEFORE, str(epoch_ms()).encode()),
            (REDRIVEN_FROM, f"{topic}:{self.position}".encode()),
        ]
        return kept

    def marker_headers(self, redriven_to: str) -> list[tuple[str, bytes]]:
        return [
            (MARKER, b"redriven"),
            (REDRIVEN_PARTITION, str(self.partition).encode()),
            (REDRIVEN_OFFSET, str(self.offset).encode()),
            (REDRIVEN_AT, now_rfc3339().encode()),
            (REDRIVEN_TO, redriven_to.encode()),
        ]


async def read_dead_letters(
    bootstrap_servers: str,
    topic: str,
    *,
    timeout_s: float = 30.0,
    security: KafkaSecurity | None = None,
) -> list[DeadLetter]:
    """Every letter now in `topic`, oldest first per partition, with redrive markers applied.

    Raises `UnknownDeadLetterTopic`, or aiokafka's errors when the broker cannot be reached.
    """
    security = security or KafkaSecurity()
    found = await topic_partitions(
        bootstrap_servers, [topic], timeout_s=timeout_s, security=security
    )
    if topic not in found:
        raise UnknownDeadLetterTopic(topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        client_id="flotilla-dlq",
        request_timeout_ms=int(min(timeout_s, 15) * 1000),
        max_partition_fetch_bytes=16 * 1024 * 1024,
        **security.client_options(),
    )
    try:
        await consumer.start()  # stopped below even when it fails
        partitions = [TopicPartition(topic, p) for p in found[topic]]
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        letters: dict[tuple[int, int], DeadLetter] = {}
        markers: list[dict[str, str]] = []
        deadline = time.monotonic() + timeout_s
        while not await _caught_up(consumer, end):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took longer than {timeout_s:.0f}s")
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    headers = [(name, value or b"") for name, value in record.headers]
                    values = header_values(headers)
                    if MARKER in values:
                        markers.append(values)
                        continue
                    letters[(record.partition, record.offset)] = DeadLetter(
                        partition=record.partition,
                        offset=record.offset,
                        timestamp_ms=record.timestamp,
                        key=record.key,
                        value=record.value,
                        headers=headers,
                    )
    finally:
        await consumer.stop()
    for marker in markers:
        try:
            target = (int(marker[REDRIVEN_PARTITION]), int(marker[REDRIVEN_OFFSET]))
        except (KeyError, ValueError):
            continue
        if target in letters:
            letters[target].redriven_at.append(marker.get(REDRIVEN_AT, "?"))
    return sorted(
        letters.values(), key=lambda letter: (letter.timestamp_ms, letter.partition, letter.offset)
    )


async def _caught_up(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    for tp, offset in end.items():
        if await consumer.position(tp) < offset:
            return False
    return True


async def topic_partitions(
    bootstrap_servers: str,
    topics: list[str],
    *,
    timeout_s: float = 15.0,
    security: KafkaSecurity | None = None,
) -> dict[str, list[int]]:
    """The partitions of those `topics` that exist (a consumer only knows the metadata of
    topics it subscribed to or was assigned, so this asks the broker directly)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="flotilla-dlq",
        request_timeout_ms=int(min(timeout_s, 15) * 1000),
        **(security or KafkaSecurity()).client_options(),
    )
    try:
        await admin.start()  # stopped below even when it fails
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {
        entry["topic"]: sorted(p["partition"] for p in entry["partitions"])
        for entry in described
        if entry["error_code"] == 0
    }
