"""The chassis: one ASGI layer, outermost, around every service's routes.

For each HTTP request, in order:

1. the request's head is read in one pass over its headers (`servicekit.asgi.request_head`),
   and a trusted proxy's `X-Forwarded-For` and `X-Forwarded-Proto` set its client and scheme
   (`servicekit.asgi.forwarded`, only for a request that has them);
2. the server span starts, its sampling decided first (`servicekit.observability.server_spans`;
   not for probes and `/metrics`), the request id is taken from the caller or made, the
   active-requests gauge counts it;
3. what is refused before the route runs is refused: a declared body over `max_body_bytes`
   (413), a NUL character in the path or query (422, `servicekit.asgi.nul_bytes`), a caller's
   budget already spent (504);
4. the route runs under the request's deadline (`servicekit.asgi.deadline`: 504 when it is
   cut), its body guarded as it is received (`servicekit.asgi.request_body`: 413, 422);
5. the response leaves with its `X-Request-Id`; at its last byte the latency sample is
   recorded (with its trace as an exemplar when its bucket is due one,
   `servicekit.observability.exemplars`) and, by the sampling rules below, the access line is
   written;
6. an error nothing else handled is logged, recorded on the span and answered with a 500
   problem when no response had started: the last line of defence.

One layer, on purpose: each concern costs a few microseconds, and a middleware per concern —
its own coroutine, its own wrapped `send` and `receive`, its own scan of the headers — cost
more than the concerns themselves.

The access log follows the trace sampler: a request gets its access line when its trace is
sampled (so every line joins a trace), when it fails (4xx, 5xx) or when it is slow. With the
default sampler (parentbased_always_on) that is every request; at a ratio of 0.1
(parentbased_traceidratio) a busy service writes a tenth of the lines for its successes and all
of them for its trouble. Metrics count every request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from opentelemetry import context, trace
from opentelemetry.propagate import extract
from opentelemetry.trace import Span
from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.asgi.access_log import log_access
from servicekit.asgi.deadline import DeadlineSlots
from servicekit.asgi.forwarded import TRUSTED_PROXIES, ForwardedHeaders
from servicekit.asgi.nul_bytes import NulCharacter, nul_in_target
from servicekit.asgi.request_body import BodyTooLarge, GuardedBody
from servicekit.asgi.request_head import RequestHead, read_head
from servicekit.errors import send_problem
from servicekit.observability.exemplars import ExemplarPace
from servicekit.observability.metrics import (
    HTTP_ACTIVE_REQUESTS,
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS_REJECTED,
    LATENCY_BUCKETS,
)
from servicekit.observability.server_spans import ServerSpans
from servicekit.request_context import deadline_var, request_id_var

__all__ = ["Chassis"]

error_log = logging.getLogger("servicekit.errors")

_UNMATCHED_ROUTE = "unmatched"
_QUIET_PATHS = frozenset({"/livez", "/readyz", "/metrics"})
_UNTRACED_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})
_UNBOUNDED_PATHS = frozenset({"/metrics"})
# HTTP/1.x requests carry a body only with a Content-Length or a Transfer-Encoding (RFC 9112,
# 6.3); an HTTP/2 or HTTP/3 request may send one with neither, so its body is always guarded.
_BODY_DECLARED_BY_HEADERS = frozenset({"1.0", "1.1"})


class Chassis:
    def __init__(
        self,
        app: ASGIApp,
        *,
        spans: ServerSpans,
        max_body_bytes: int,
        request_timeout_s: float,
        slow_request_s: float = 1.0,
        trusted_proxies: str = TRUSTED_PROXIES,
    ) -> None:
        self.app = app
        self.spans = spans
        self.max_body_bytes = max_body_bytes
        self.request_timeout_s = request_timeout_s
        self.slow_request_s = slow_request_s
        # The latency's labelled children, looked up once per label set rather than through
        # prometheus_client's `labels()` (a lock and argument checks) on every request.
        self._durations: dict[tuple[str, str, int], Histogram] = {}
        self._deadline_slots: DeadlineSlots | None = None
        self._forwarded = ForwardedHeaders(trusted_proxies)
        self._exemplars = ExemplarPace(LATENCY_BUCKETS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = read_head(scope["headers"])
        if head.forwarded:
            await self._forwarded.apply(scope)
        if scope["path"] in _UNTRACED_PATHS:
            await self._serve(scope, receive, send, head, None)
            return
        # Without trace headers there is no caller's span to extract.
        span = self.spans.start(scope, extract(head.trace_carrier) if head.trace_carrier else None)
        # What `start_as_current_span` does, without its two context-manager layers.
        token = context.attach(trace.set_span_in_context(span))
        status: int | None = None  # stays None if the request is cancelled
        try:
            status = await self._serve(scope, receive, send, head, span)
        finally:
            context.detach(token)
            route = _route(scope)
            self.spans.end(
                span, scope["method"], None if route == _UNMATCHED_ROUTE else route, status
            )

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, head: RequestHead, span: Span | None
    ) -> int:
        """Run the route, or refuse it; returns the response's status."""
        exchange = _Exchange(self, scope, send, head.request_id or _new_request_id(), span)
        token = request_id_var.set(exchange.request_id)
        method: str = scope["method"]
        in_flight = HTTP_ACTIVE_REQUESTS.by_method
        in_flight[method] = in_flight.get(method, 0) + 1
        try:
            await self._guarded(scope, receive, exchange, head)
        except Exception as error:
            error_log.exception("unhandled error", extra={"http_route": _route(scope)})
            if span is not None and span.is_recording():
                span.record_exception(error)
            if not exchange.started:
                exchange.status = 500
                await send_problem(
                    exchange.send,
                    500,
                    "An internal error occurred; it has been logged.",
                    slug="internal-error",
                )
        finally:
            in_flight[method] -= 1
            exchange.record()
            request_id_var.reset(token)
        return exchange.status

    async def _guarded(
        self, scope: Scope, receive: Receive, exchange: _Exchange, head: RequestHead
    ) -> None:
        """The route under its deadline with its body guarded, or the refusal in its place."""
        if head.content_length is not None and head.content_length > self.max_body_bytes:
            await _refuse(exchange, "body_too_large", BodyTooLarge(self.max_body_bytes))
            return
        if nul_in_target(scope):
            await _refuse(exchange, "nul_character", NulCharacter())
            return
        if head.has_body or scope.get("http_version") not in _BODY_DECLARED_BY_HEADERS:
            receive = GuardedBody(receive, self.max_body_bytes)
        try:
            if scope["path"] in _UNBOUNDED_PATHS:
                await self.app(scope, receive, exchange.send)
            else:
                await self._within_deadline(scope, receive, exchange, head)
        except (BodyTooLarge, NulCharacter) as refusal:
            # Reached when the route read the body outside FastAPI's own parsing, which
            # otherwise hands these to the problem handlers.
            if exchange.started:
                raise
            await _answer(exchange, refusal)

    async def _within_deadline(
        self, scope: Scope, receive: Receive, exchange: _Exchange, head: RequestHead
    ) -> None:
        budget = self.request_timeout_s
        if head.caller_budget_s is not None:
            budget = min(budget, head.caller_budget_s)
        token = deadline_var.set(time.monotonic() + budget)
        try:
            if budget <= 0:
                raise TimeoutError
            await self._deadline_slots_of_running_loop().run(
                self.app(scope, receive, exchange.send), budget
            )
        except TimeoutError:
            if exchange.started:
                raise
            HTTP_REQUESTS_REJECTED.labels("deadline_exceeded").inc()
            await send_problem(
                exchange.send,
                504,
                f"The request did not complete within its {budget:.3g} s budget.",
                slug="deadline-exceeded",
            )
        finally:
            deadline_var.reset(token)

    def _deadline_slots_of_running_loop(self) -> DeadlineSlots:
        loop = asyncio.get_running_loop()
        if self._deadline_slots is None or self._deadline_slots.loop is not loop:
            self._deadline_slots = DeadlineSlots(loop)
        return self._deadline_slots

    def _duration_histogram(self, route: str, method: str, status: int) -> Histogram:
        durations = self._durations.get((route, method, status))
        if durations is None:
            durations = HTTP_REQUEST_DURATION.labels(route, method, str(status))
            self._durations[(route, method, status)] = durations
        return durations


class _Exchange:
    """One request's response as it leaves: its status, whether it has started, and the
    request's latency sample and access line, recorded once at its last byte (or, if the route
    never sent one, when the chassis is done with the request)."""

    __slots__ = (
        "_chassis",
        "_recorded",
        "_send",
        "_started_at",
        "request_id",
        "sampled_trace_id",
        "scope",
        "started",
        "status",
    )

    def __init__(
        self, chassis: Chassis, scope: Scope, send: Send, request_id: str, span: Span | None
    ) -> None:
        self._chassis = chassis
        self._send = send
        self.scope = scope
        self.request_id = request_id
        self.sampled_trace_id = None if span is None else _sampled_trace_id(span)
        self.status = 500
        self.started = False
        self._recorded = False
        self._started_at = time.perf_counter()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started = True
            message["headers"] = [
                *message.get("headers", []),
                (b"x-request-id", self.request_id.encode()),
            ]
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            # Recorded before the last byte leaves, so a client that has the response can
            # already find its access line and its sample in /metrics.
            self.record()
        await self._send(message)

    def record(self) -> None:
        if self._recorded:
            return
        self._recorded = True
        finished_at = time.perf_counter()
        elapsed = finished_at - self._started_at
        scope, status = self.scope, self.status
        route, method, path = _route(scope), scope["method"], scope["path"]
        durations = self._chassis._duration_histogram(route, method, status)
        trace_id = self.sampled_trace_id
        if trace_id is not None and self._chassis._exemplars.due(durations, elapsed, finished_at):
            durations.observe(elapsed, exemplar={"trace_id": format(trace_id, "032x")})
        else:
            durations.observe(elapsed)
        if path not in _QUIET_PATHS and (
            trace_id is not None
            or status >= 400
            or elapsed >= self._chassis.slow_request_s
            or path in _UNTRACED_PATHS
        ):
            log_access(method, path, status, route, round(elapsed * 1000, 2))


async def _refuse(exchange: _Exchange, reason: str, refusal: BodyTooLarge | NulCharacter) -> None:
    HTTP_REQUESTS_REJECTED.labels(reason).inc()
    await _answer(exchange, refusal)


async def _answer(exchange: _Exchange, refusal: BodyTooLarge | NulCharacter) -> None:
    await send_problem(exchange.send, refusal.status_code, refusal.detail, slug=refusal.slug)


def _sampled_trace_id(span: Span) -> int | None:
    """The sampled trace the request belongs to: the reason to log it, and its latency
    sample's exemplar when its bucket takes one (a dashboard jumps from a slow bucket straight
    to one of its traces)."""
    span_context = span.get_span_context()
    if not (span_context.is_valid and span_context.trace_flags.sampled):
        return None
    return span_context.trace_id


def _new_request_id() -> str:
    # 128 random bits as 32 hex digits, the length of a uuid4's hex without building a UUID.
    return os.urandom(16).hex()


def _route(scope: Scope) -> str:
    path: object = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    return _UNMATCHED_ROUTE
