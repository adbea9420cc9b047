"""The one way a service calls another service or the outside world.

    async with ResilientClient("catalog", settings.downstream("catalog").base_url,
                               settings.downstream("catalog")) as catalog:
        response = await catalog.get("/products/42")

A `GET` whose answer the downstream marked cacheable (`Cache-Control: max-age`, and public
enough for a shared cache) is answered from the client's cache while fresh and revalidated with
its `ETag` once stale (`servicekit.http.response_cache`; the policy's `cache_max_entries`).

A call has an overall deadline: the policy's `deadline_s`, or less when the current request's
own budget (`servicekit.request_context`) is shorter. Each attempt has connect/read timeouts
clipped to what is left, sends the remainder downstream in `x-request-budget-ms`, carries the
W3C trace context, gets a CLIENT span, and goes through the downstream's circuit breaker.

Retries: only idempotent requests (safe methods or an `Idempotency-Key`), by the rules of
`servicekit.http.retrying` (which failures, how long to wait, when to stop).

The caller gets the final `httpx.Response` whatever its status (a 5xx after the last attempt
included), or a problem error: `DownstreamUnavailable` (503 + Retry-After: breaker open,
unreachable), `DownstreamTimeout` (504) or `DeadlineExceeded` (504).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self, TypedDict, Unpack

import httpx
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

from servicekit.asgi.request_head import BUDGET_HEADER
from servicekit.errors import ProblemError
from servicekit.http.errors import DeadlineExceeded, DownstreamTimeout, DownstreamUnavailable
from servicekit.http.policy import IDEMPOTENT_METHODS, DownstreamPolicy, DownstreamSettings
from servicekit.http.response_cache import ResponseCache, bypasses_cache
from servicekit.http.retry_budget import RetryBudget
from servicekit.http.retrying import RetryRules
from servicekit.http.singleflight import SingleFlight
from servicekit.http.telemetry import CLIENT_CACHE, CLIENT_CALLS, CLIENT_REQUEST_DURATION
from servicekit.request_context import remaining_budget_s
from servicekit.resilience.breaker import CircuitBreaker, CircuitOpenError

__all__ = ["RequestOptions", "ResilientClient", "is_downstream_failure"]

# Per-attempt headers, not part of what makes two GETs "identical".
_UNKEYED_HEADERS = frozenset(
    {"traceparent", "tracestate", "baggage", "x-request-id", BUDGET_HEADER}
)
# Methods that change nothing (RFC 9110 §9.2.1): any other, when it succeeds, drops what the
# cache kept for its URL.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_SECRET_PARAMS = frozenset(
    {
        "awsaccesskeyid",
        "signature",
        "sig",
        "x-goog-signature",
        "token",
        "access_token",
        "api_key",
        "apikey",
        "key",
        "password",
        "secret",
    }
)


class RequestOptions(TypedDict, total=False):
    params: Mapping[str, str | int | float]
    headers: Mapping[str, str]
    json: Any
    content: bytes


class _ServerError(Exception):
    """A 5xx answer, raised inside the breaker's guard so that it counts against the downstream."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class _DeadlineSpent(Exception):
    """The overall deadline ran out before or during an attempt."""


def is_downstream_failure(error: BaseException) -> bool:
    """Connect errors, timeouts and 5xx count against the downstream; 4xx do not."""
    return isinstance(error, httpx.TransportError | _ServerError | _DeadlineSpent)


class ResilientClient:
    def __init__(
        self,
        name: str,
        base_url: str,
        policy: DownstreamPolicy,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        is_failure: Callable[[BaseException], bool] = is_downstream_failure,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.breaker = CircuitBreaker(
            name, policy.breaker, is_failure=is_failure, clock=clock, rng=rng
        )
        self.retry_budget = RetryBudget(
            policy.retry_budget_ratio,
            policy.retry_budget_window_s,
            policy.retry_budget_min_retries_per_s,
            clock=clock,
        )
        self._http = httpx.AsyncClient(base_url=base_url or policy.base_url, transport=transport)
        self._flights: SingleFlight[httpx.Response] = SingleFlight()
        self.cache = ResponseCache(policy.cache_max_entries) if policy.cache_max_entries else None
        self._clock = clock
        self._retry_rules = RetryRules(
            name, policy, self.retry_budget, clock=clock, rng=rng, sleep=sleep
        )
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)

    @classmethod
    def from_settings(cls, name: str, settings: DownstreamSettings, **kwargs: Any) -> Self:
        policy = settings.downstream(name)
        return cls(name, policy.base_url, policy, **kwargs)

    def use_tracer_provider(self, provider: TracerProvider) -> None:
        """For clients built before the app whose provider their CLIENT spans should use."""
        self._tracer = trace.get_tracer(__name__, tracer_provider=provider)

    async def aclose(self) -> None:
        await self._http.aclose()

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """A `create_app` lifespan hook: the client is closed when the app stops."""
        try:
            yield
        finally:
            await self.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def get(self, url: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("GET", url, **options)

    async def head(self, url: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("HEAD", url, **options)

    async def options(self, url: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("OPTIONS", url, **options)

    async def post(self, url: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("POST", url, **options)

    async def put(self, url: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("PUT", url, **options)

    async def patch(self, url: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("PATCH", url, **options)

    async def delete(self, url: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        return await self.request("DELETE", url, **options)

    async def request(
        self, method: str, url: str, **options: Unpack[RequestOptions]
    ) -> httpx.Response:
        method = method.upper()
        headers = httpx.Headers(options.get("headers"))
        content = options.get("content")
        if "json" in options:
            content = jsonlib.dumps(options["json"]).encode()
            headers.setdefault("content-type", "application/json")
        full_url = self._http.build_request(method, url, params=options.get("params")).url
        deadline = self._deadline()
        if self.cache is None:
            return await self._send(method, full_url, headers, content, deadline)
        if method == "GET" and content is None and not bypasses_cache(headers):
            return await self._get_through_cache(self.cache, full_url, headers, deadline)
        response = await self._send(method, full_url, headers, content, deadline)
        if method not in _SAFE_METHODS and response.status_code < 400:
            self.cache.forget(str(full_url))
        return response

    async def _get_through_cache(
        self, cache: ResponseCache, url: httpx.URL, headers: httpx.Headers, deadline: float
    ) -> httpx.Response:
        key = str(url)
        kept = cache.lookup(key, headers)
        if kept is not None and kept.is_fresh(self._clock()):
            CLIENT_CACHE.labels(self.name, "hit").inc()
            request = self._http.build_request("GET", url, headers=headers)
            return kept.response(request, self._clock())
        asked = headers
        if kept is not None and kept.etag is not None:
            asked = headers.copy()
            asked["if-none-match"] = kept.etag
        response = await self._send("GET", url, asked, None, deadline)
        now = self._clock()
        if kept is not None and response.status_code == 304:
            CLIENT_CACHE.labels(self.name, "revalidated").inc()
            return cache.renew(key, kept, response, now).response(response.request, now)
        CLIENT_CACHE.labels(self.name, "miss").inc()
        cache.keep(key, headers, response, now)
        return response

    async def _send(
        self,
        method: str,
        full_url: httpx.URL,
        headers: httpx.Headers,
        content: bytes | None,
        deadline: float,
    ) -> httpx.Response:
        """One call, retries included; identical concurrent GETs share one (single flight)."""
        if not (self.policy.single_flight and method == "GET" and content is None):
            return await self._call(method, full_url, headers, content, deadline)
        key = (
            method,
            str(full_url),
            tuple(sorted((k, v) for k, v in headers.items() if k not in _UNKEYED_HEADERS)),
        )
        try:
            async with asyncio.timeout(max(0.0, deadline - self._clock())):
                response, shared = await self._flights.do(
                    key, lambda: self._call(method, full_url, headers, None, deadline)
                )
        except TimeoutError:
            raise DeadlineExceeded(self.name, f"{self.name}: the call's deadline ran out") from None
        return _copy(response) if shared else response

    def _deadline(self) -> float:
        budget = self.policy.deadline_s
        caller_budget = remaining_budget_s()
        if caller_budget is not None:
            budget = min(budget, caller_budget)
        return self._clock() + budget

    async def _call(
        self,
        method: str,
        url: httpx.URL,
        headers: httpx.Headers,
        content: bytes | None,
        deadline: float,
    ) -> httpx.Response:
        self.retry_budget.record_call()
        retryable = method in IDEMPOTENT_METHODS or "idempotency-key" in headers
        attempts = 0

        async def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            return await self._attempt(method, url, headers, content, deadline, attempts - 1)

        retrying = self._retry_rules.retrying(retryable=retryable, deadline=deadline)
        outcome = "success"
        try:
            response: httpx.Response = await retrying(attempt)
        except Exception as error:
            outcome, problem = self._problem(error)
            if problem is None:
                raise
            raise problem from error
        else:
            if response.status_code >= 500:
                outcome = "server_error"
            elif response.status_code >= 400:
                outcome = "client_error"
            return response
        finally:
            CLIENT_CALLS.labels(self.name, method, outcome).inc()

    async def _attempt(
        self,
        method: str,
        url: httpx.URL,
        headers: httpx.Headers,
        content: bytes | None,
        deadline: float,
        resend_count: int,
    ) -> httpx.Response:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise _DeadlineSpent
        attempt_headers = headers.copy()
        budget_ms = int(max(0.0, remaining - self.policy.budget_margin_s) * 1000)
        attempt_headers[BUDGET_HEADER] = str(budget_ms)
        attributes: dict[str, str | int] = {
            "http.request.method": method,
            "url.full": _redacted(url),
            "server.address": url.host,
        }
        if url.port is not None:
            attributes["server.port"] = url.port
        if resend_count:
            attributes["http.request.resend_count"] = resend_count
        with self._tracer.start_as_current_span(
            method, kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            propagate.inject(attempt_headers)
            request = self._http.build_request(
                method,
                url,
                headers=attempt_headers,
                content=content,
                timeout=httpx.Timeout(
                    min(self.policy.read_timeout_s, remaining),
                    connect=min(self.policy.connect_timeout_s, remaining),
                ),
            )
            started = time.perf_counter()
            status = "error"
            try:
                async with self.breaker.guard():
                    try:
                        async with asyncio.timeout(remaining):
                            response = await self._http.send(request)
                    except TimeoutError:
                        raise _DeadlineSpent from None
                    status = str(response.status_code)
                    span.set_attribute("http.response.status_code", response.status_code)
                    if response.status_code >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                        span.set_attribute("error.type", status)
                        raise _ServerError(response)
            except _ServerError as error:
                return error.response
            except Exception as error:
                span.set_attribute("error.type", type(error).__qualname__)
                raise
            finally:
                CLIENT_REQUEST_DURATION.labels(self.name, method, status).observe(
                    time.perf_counter() - started
                )
            return response

    def _problem(self, error: Exception) -> tuple[str, ProblemError | None]:
        name = self.name
        if isinstance(error, CircuitOpenError):
            detail = f"{name} is failing; calls are suspended for a while."
            return "circuit_open", DownstreamUnavailable(
                name, detail, retry_after_s=error.retry_after_s
            )
        if isinstance(error, _DeadlineSpent):
            return "deadline_exceeded", DeadlineExceeded(name, f"{name}: the deadline ran out.")
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return "connect_error", DownstreamUnavailable(name, f"{name} cannot be reached.")
        if isinstance(error, httpx.TimeoutException):
            return "timeout", DownstreamTimeout(name, f"{name} did not answer in time.")
        if isinstance(error, httpx.TransportError):
            return "server_error", DownstreamUnavailable(name, f"{name} broke the connection.")
        return "server_error", None


def _redacted(url: httpx.URL) -> str:
    params = [
        (k, "REDACTED" if k.lower() in _SECRET_PARAMS else v) for k, v in url.params.multi_items()
    ]
    clean = url.copy_with(username=None, password=None, params=params or None)
    return str(clean)


def _copy(response: httpx.Response) -> httpx.Response:
    """An equivalent response for a single-flight follower (its body is already decoded)."""
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code, headers=headers, content=response.content, request=response.request
    )
