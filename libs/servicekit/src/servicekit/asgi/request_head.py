"""What the chassis reads from a request's headers, in one pass over them: the request id, the
trace context, the body's declared length, the caller's remaining budget and whether a proxy
says where the request came from."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["BUDGET_HEADER", "RequestHead", "read_head"]

BUDGET_HEADER = "x-request-budget-ms"
"""The caller's remaining budget in milliseconds: the service's deadline for the request is
the shorter of its own `request_timeout_s` and this."""

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{8,128}$")
_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
_FORWARDED_HEADERS = frozenset({b"x-forwarded-for", b"x-forwarded-proto"})
_READ = (
    _TRACE_HEADERS
    | _FORWARDED_HEADERS
    | {
        b"x-request-id",
        b"content-length",
        b"transfer-encoding",
        BUDGET_HEADER.encode(),
    }
)


class RequestHead:
    __slots__ = (
        "caller_budget_s",
        "content_length",
        "forwarded",
        "has_body",
        "request_id",
        "trace_carrier",
    )

    def __init__(self) -> None:
        self.request_id: str | None = None
        """The caller's `X-Request-Id` when it is a sane token, else None."""
        self.trace_carrier: dict[str, str] | None = None
        """The W3C trace headers, for the propagator; None when the caller sent none."""
        self.content_length: int | None = None
        """The declared body length; None when absent or not a number."""
        self.has_body = False
        """Whether the headers announce a body: a non-zero length or a transfer encoding (in
        HTTP/1.x a request with neither has none)."""
        self.caller_budget_s: float | None = None
        """`X-Request-Budget-Ms` in seconds, never negative; None when absent or not a number."""
        self.forwarded = False
        """Whether an `X-Forwarded-For` or `X-Forwarded-Proto` header came with the request."""


def read_head(headers: Iterable[tuple[bytes, bytes]]) -> RequestHead:
    head = RequestHead()
    for name, value in headers:
        if name not in _READ:
            continue
        if name in _TRACE_HEADERS:
            if head.trace_carrier is None:
                head.trace_carrier = {}
            head.trace_carrier[name.decode()] = value.decode("latin-1")
        elif name == b"x-request-id":
            if head.request_id is None and _REQUEST_ID.match(value):
                head.request_id = bytes(value).decode()
        elif name == b"content-length":
            head.content_length = _integer(value)
            head.has_body = head.has_body or head.content_length != 0
        elif name == b"transfer-encoding":
            head.has_body = True
        elif name in _FORWARDED_HEADERS:
            head.forwarded = True
        elif head.caller_budget_s is None:
            budget_ms = _integer(value)
            head.caller_budget_s = None if budget_ms is None else max(0.0, budget_ms / 1000)
    return head


def _integer(value: bytes) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None
