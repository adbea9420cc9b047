"""Where a failing event goes next, and the headers that carry its history.

A transient failure is retried in place (`in_place_attempts`, short exponential backoff with
full jitter). Then the record moves to the group's retry topics in turn, `<group>.retry.1`,
`<group>.retry.2`, … — tier n waits `retry_delays_s[n-1]` before its first attempt — and after
the last tier to the group's dead-letter topic `<group>.dlq`. Only this group reads its retry
topics, so other groups never see a retried event twice.

Forwarded records keep the key, the value and every CloudEvents header; the `flotilla_*`
extension headers below are replaced on each hop:

    flotilla_attempts            handler attempts so far (all tiers)
    flotilla_not_before          epoch milliseconds; not processed before then
    flotilla_original_topic      where the event was first consumed from, and at which
    flotilla_original_partition  partition and offset (kept across every hop)
    flotilla_original_offset
    flotilla_error_type          the last error's class name
    flotilla_error_message       its message, truncated
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "ATTEMPTS",
    "ERROR_MESSAGE",
    "ERROR_TYPE",
    "EXTENSION_PREFIX",
    "NOT_BEFORE",
    "ORIGINAL_OFFSET",
    "ORIGINAL_PARTITION",
    "ORIGINAL_TOPIC",
    "TRACE_HEADERS",
    "Origin",
    "RetryPolicy",
    "attempts_of",
    "epoch_ms",
    "error_headers",
    "forwarded_headers",
    "header_value",
    "header_values",
    "not_before_s",
    "retry_topic",
]

ATTEMPTS = "flotilla_attempts"
NOT_BEFORE = "flotilla_not_before"
ORIGINAL_TOPIC = "flotilla_original_topic"
ORIGINAL_PARTITION = "flotilla_original_partition"
ORIGINAL_OFFSET = "flotilla_original_offset"
ERROR_TYPE = "flotilla_error_type"
ERROR_MESSAGE = "flotilla_error_message"

EXTENSION_PREFIX = "flotilla_"
TRACE_HEADERS = ("traceparent", "tracestate")
MAX_ERROR_MESSAGE = 500

Headers = Sequence[tuple[str, bytes]]


def retry_topic(group: str, tier: int) -> str:
    return f"{group}.retry.{tier}"


@dataclass(frozen=True)
class RetryPolicy:
    retry_delays_s: Sequence[float]
    in_place_attempts: int = 3
    in_place_backoff_s: float = 0.1
    in_place_backoff_max_s: float = 2.0

    def __post_init__(self) -> None:
        if self.in_place_attempts < 1:
            raise ValueError("in_place_attempts must be at least 1")
        if any(delay < 0 for delay in self.retry_delays_s):
            raise ValueError("retry delays must not be negative")

    def topics(self, group: str) -> list[str]:
        return [retry_topic(group, tier) for tier in range(1, len(self.retry_delays_s) + 1)]

    def backoff_s(self, failed_attempts: int) -> float:
        """Full jitter: uniform in [0, base * 2^(n-1)], capped."""
        ceiling = min(
            self.in_place_backoff_max_s, self.in_place_backoff_s * 2 ** (failed_attempts - 1)
        )
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    @property
    def longest_delay_s(self) -> float:
        return max(self.retry_delays_s, default=0.0)


@dataclass(frozen=True)
class Origin:
    """Where the event was first consumed; kept on every retry and dead-letter hop."""

    topic: str
    partition: int
    offset: int

    @classmethod
    def of(
        cls, topic: str, partition: int, offset: int, headers: Headers, *, forwarded: bool
    ) -> Origin:
        """The record's own coordinates, unless it was `forwarded` (read from a retry topic)
        and carries its origin in headers."""
        if forwarded:
            values = header_values(headers)
            try:
                return cls(
                    values[ORIGINAL_TOPIC],
                    int(values[ORIGINAL_PARTITION]),
                    int(values[ORIGINAL_OFFSET]),
                )
            except (KeyError, ValueError):
                pass
        return cls(topic, partition, offset)

    def headers(self) -> dict[str, str]:
        return {
            ORIGINAL_TOPIC: self.topic,
            ORIGINAL_PARTITION: str(self.partition),
            ORIGINAL_OFFSET: str(self.offset),
        }


def header_values(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    """Headers as text; the last value wins, bytes that are not UTF-8 are replaced."""
    return {name: (raw or b"").decode(errors="replace") for name, raw in headers}


def header_value(headers: Iterable[tuple[str, bytes | None]], name: str) -> str | None:
    return header_values(headers).get(name)


def attempts_of(headers: Headers) -> int:
    try:
        return max(0, int(header_value(headers, ATTEMPTS) or 0))
    except ValueError:
        return 0


def not_before_s(headers: Headers) -> float | None:
    """`flotilla_not_before` as epoch seconds, or None when absent or unreadable."""
    try:
        raw = header_value(headers, NOT_BEFORE)
        return int(raw) / 1000 if raw else None
    except ValueError:
        return None


def error_headers(error: BaseException | str) -> dict[str, str]:
    if isinstance(error, BaseException):
        error_type, message = type(error).__name__, str(error) or repr(error)
    else:
        error_type, message = "", error
    if len(message) > MAX_ERROR_MESSAGE:
        message = message[: MAX_ERROR_MESSAGE - 1] + "…"
    return {ERROR_TYPE: error_type, ERROR_MESSAGE: message}


def forwarded_headers(
    headers: Headers, extensions: Mapping[str, str], trace_headers: Mapping[str, str]
) -> list[tuple[str, bytes]]:
    """The record's headers without our old bookkeeping or trace context, plus the new ones."""
    kept = [
        (name, value if value is not None else b"")
        for name, value in headers
        if not name.startswith(EXTENSION_PREFIX) and name not in TRACE_HEADERS
    ]
    kept.extend((name, value.encode()) for name, value in trace_headers.items())
    kept.extend((name, value.encode()) for name, value in extensions.items())
    return kept


def epoch_ms(seconds: float | None = None) -> int:
    return int((time.time() if seconds is None else seconds) * 1000)
