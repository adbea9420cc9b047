"""The outermost chassis middleware: the server span, request id, golden-signal metrics, the
access log line, and the last line of defence that turns any unhandled error into a 500 problem.

One middleware does all of it, on purpose: each is a few microseconds here, where a generic
instrumentation layer per concern costs several times the whole of a small request.

The access log follows the trace sampler: a request gets its access line when its trace is
sampled (so every line joins a trace), when it fails (4xx, 5xx) or when it is slow. With the
default sampler (parentbased_always_on) that is every request; at a ratio of 0.1
(parentbased_traceidratio) a busy service writes a tenth of the lines for its successes and all
of them for its trouble. Metrics count every request.
"""

from __future__ import annotations

import logging
import os
import re
import time

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.propagate import extract
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from prometheus_client import Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.errors import send_problem
from servicekit.observability.metrics import HTTP_ACTIVE_REQUESTS, HTTP_REQUEST_DURATION
from servicekit.request_context import request_id_var

__all__ = ["ObserveRequests"]

access_log = logging.getLogger("servicekit.access")
error_log = logging.getLogger("servicekit.errors")

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{8,128}$")
_UNMATCHED_ROUTE = "unmatched"
_QUIET_PATHS = frozenset({"/livez", "/readyz", "/metrics"})
_UNTRACED_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})
_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})


class ObserveRequests:
    def __init__(self, app: ASGIApp, tracer: Tracer, slow_request_s: float = 1.0) -> None:
        self.app = app
        self.tracer = tracer
        self.slow_request_s = slow_request_s
        # The metrics' labelled children, looked up once per label set rather than through
        # prometheus_client's `labels()` (a lock and argument checks) on every request.
        self._active: dict[str, Gauge] = {}
        self._durations: dict[tuple[str, str, int], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in _UNTRACED_PATHS:
            await self._observe(scope, receive, send, None)
            return
        method: str = scope["method"]
        carrier: dict[str, str] | None = None
        for name, value in scope["headers"]:
            if name in _TRACE_HEADERS:
                carrier = carrier or {}
                carrier[name.decode()] = value.decode("latin-1")
        # Without trace headers there is nothing to extract: the parent is an empty context.
        parent = extract(carrier) if carrier else Context()
        span = self.tracer.start_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
                "network.protocol.version": scope.get("http_version", "1.1"),
            },
            record_exception=False,
            set_status_on_exception=False,
        )
        # What `start_as_current_span` does, without its two context-manager layers.
        token = context.attach(trace.set_span_in_context(span))
        try:
            status = await self._observe(scope, receive, send, span)
            if span.is_recording():  # an unsampled span keeps nothing set on it
                route = _route(scope)
                if route != _UNMATCHED_ROUTE:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
        finally:
            context.detach(token)
            span.end()

    async def _observe(self, scope: Scope, receive: Receive, send: Send, span: Span | None) -> int:
        """Run the app; returns the response status."""
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        method: str = scope["method"]
        status = 500
        response_started = False
        logged = False
        active = self._active.get(method)
        if active is None:
            active = self._active[method] = HTTP_ACTIVE_REQUESTS.labels(method)
        sampled_trace = None if span is None else _sampled_trace_id(span)
        started = time.perf_counter()

        def record() -> None:
            nonlocal logged
            if logged:
                return
            logged = True
            elapsed = time.perf_counter() - started
            route = _route(scope)
            durations = self._durations.get((route, method, status))
            if durations is None:
                durations = HTTP_REQUEST_DURATION.labels(route, method, str(status))
                self._durations[(route, method, status)] = durations
            durations.observe(
                elapsed, exemplar=None if sampled_trace is None else {"trace_id": sampled_trace}
            )
            if scope["path"] not in _QUIET_PATHS and (
                sampled_trace is not None
                or status >= 400
                or elapsed >= self.slow_request_s
                or scope["path"] in _UNTRACED_PATHS
            ):
                access_log.info(
                    "%s %s %s",
                    method,
                    scope["path"],
                    status,
                    extra={
                        "http_route": route,
                        "http_request_method": method,
                        "http_response_status_code": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Recorded before the last byte leaves, so a client that has the response
                # can already find its access line and its sample in /metrics.
                record()
            await send(message)

        active.inc()
        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as error:
            error_log.exception("unhandled error", extra={"http_route": _route(scope)})
            if span is not None and span.is_recording():
                span.record_exception(error)
            if not response_started:
                status = 500
                await send_problem(
                    send_with_request_id,
                    500,
                    "An internal error occurred; it has been logged.",
                    slug="internal-error",
                )
        finally:
            active.dec()
            record()
            request_id_var.reset(token)
        return status


def _sampled_trace_id(span: Span) -> str | None:
    """The sampled trace the request belongs to: its latency sample's exemplar (a dashboard
    jumps from a slow bucket straight to one of its traces) and the reason to log it."""
    span_context = span.get_span_context()
    if not (span_context.is_valid and span_context.trace_flags.sampled):
        return None
    return format(span_context.trace_id, "032x")


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _REQUEST_ID.match(value):
            return bytes(value).decode()
    # 128 random bits as 32 hex digits, the length of a uuid4's hex without building a UUID.
    return os.urandom(16).hex()


def _route(scope: Scope) -> str:
    path: object = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    return _UNMATCHED_ROUTE
