"""Publishing a failed record onward: to the group's next retry topic, or its dead-letter topic.

The producer is idempotent with `acks="all"` (aiokafka's defaults are `acks=1` without
idempotence), and a send is awaited until the broker acknowledged it: the consumer commits the
source offset only afterwards, so a crash in between re-processes the record (the inbox
deduplicates) instead of losing it. A failed send is retried `max_attempts` times in all, the
back-off spent outside the caller's concurrency slot (`sleep`, `slots.py`); then
`ForwardingFailed` is raised and the consumer waits Kafka out (`outages.py`) with the record
left uncommitted. A record too large for the target topic is dead-lettered without its value.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.structs import ConsumerRecord
from opentelemetry import propagate

from servicekit.events.dead_letters import (
    CONSUMER_GROUP,
    DLQ_REASON,
    FAILED_AT,
    PAYLOAD_OMITTED,
    DeadLetterReason,
    now_rfc3339,
)
from servicekit.events.metrics import DLQ_PUBLISHED
from servicekit.events.retry import (
    ATTEMPTS,
    NOT_BEFORE,
    TRACE_HEADERS,
    Origin,
    error_headers,
    forwarded_headers,
    header_values,
)

__all__ = ["Forwarder", "ForwardingFailed", "RecordTooLarge"]

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]
_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)


class RecordTooLarge(Exception):
    """The target topic (or the producer's request limit) refuses a record this large."""


class ForwardingFailed(Exception):
    """Kafka did not take a forwarded record within the forwarder's attempts."""


class Forwarder:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        *,
        group: str,
        dlq_topic: str,
        retry_backoff_s: float = 0.5,
        retry_backoff_max_s: float = 5.0,
        max_attempts: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._producer = producer
        self._group = group
        self._dlq_topic = dlq_topic
        self._backoff_s = retry_backoff_s
        self._backoff_max_s = retry_backoff_max_s
        self._max_attempts = max(1, max_attempts)
        self._sleep = sleep

    async def to_retry(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        origin: Origin,
        attempts: int,
        not_before_ms: int,
        error: BaseException,
    ) -> None:
        """Raises `RecordTooLarge` when the retry topic refuses the record, `ForwardingFailed`
        when Kafka does not take it."""
        extensions = {
            **origin.headers(),
            ATTEMPTS: str(attempts),
            NOT_BEFORE: str(not_before_ms),
            **error_headers(error),
        }
        await self._send(topic, key, value, forwarded_headers(headers, extensions, _trace(headers)))

    async def dead_letter(
        self,
        record: ConsumerRecord[bytes, bytes],
        headers: Headers,
        origin: Origin,
        reason: DeadLetterReason,
        error: BaseException | str,
        attempts: int,
    ) -> None:
        """Give up on a consumed record: logged, then `to_dlq`."""
        log.warning(
            "dead-lettering %s:%s:%s (%s): %s",
            record.topic,
            record.partition,
            record.offset,
            reason,
            error,
            extra={"group": self._group},
        )
        await self.to_dlq(
            key=record.key,
            value=record.value,
            headers=headers,
            origin=origin,
            reason=reason,
            error=error,
            attempts=attempts,
        )

    async def to_dlq(
        self,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        origin: Origin,
        reason: DeadLetterReason,
        error: BaseException | str,
        attempts: int,
    ) -> None:
        extensions = {
            **origin.headers(),
            DLQ_REASON: reason,
            **error_headers(error),
            ATTEMPTS: str(attempts),
            FAILED_AT: now_rfc3339(),
            CONSUMER_GROUP: self._group,
        }
        letter = forwarded_headers(headers, extensions, _trace(headers))
        try:
            await self._send(self._dlq_topic, key, value, letter)
        except RecordTooLarge:
            size = len(value or b"")
            log.error(
                "dead letter too large for %s; publishing it without its value",
                self._dlq_topic,
                extra={"group": self._group, "bytes": size},
            )
            omitted = [*letter, (PAYLOAD_OMITTED, str(size).encode())]
            await self._send(self._dlq_topic, key, b"", omitted)
        DLQ_PUBLISHED.labels(self._group, reason).inc()

    async def _send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        if key is None and value is None:
            value = b""  # a record needs a key or a value (a tombstone read from a source)
        failures = 0
        while True:
            try:
                await self._producer.send_and_wait(
                    topic, value=value, key=key, headers=list(headers)
                )
                return
            except _TOO_LARGE as error:
                raise RecordTooLarge(str(error)) from error
            except KafkaError as error:
                failures += 1
                if failures >= self._max_attempts:
                    raise ForwardingFailed(f"publishing to {topic} failed: {error!r}") from error
                delay = min(self._backoff_max_s, self._backoff_s * 2 ** (failures - 1))
                log.warning(
                    "publishing to %s failed (%s); retrying in %.1fs",
                    topic,
                    type(error).__name__,
                    delay,
                    extra={"group": self._group},
                )
                await self._sleep(delay)


def _trace(headers: Headers) -> Mapping[str, str]:
    """The current span's context (the record's own when no span is recording)."""
    values = header_values(headers)
    carrier = {name: values[name] for name in TRACE_HEADERS if name in values}
    propagate.inject(carrier)
    return carrier
