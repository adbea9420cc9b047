"""The resilient client against a real HTTP server (uvicorn on a free local port)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from fastapi import APIRouter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devstack.process import free_port
from servicekit.app import create_app
from servicekit.http import (
    DeadlineExceeded,
    DownstreamPolicy,
    DownstreamSettings,
    DownstreamUnavailable,
    ResilientClient,
)
from servicekit.request_context import deadline_var
from servicekit.resilience.breaker import BreakerPolicy, CircuitState
from servicekit.settings import ServiceSettings
from servicekit.testing import serving


@dataclass
class Hit:
    at: float
    headers: dict[str, str]


@dataclass
class Downstream:
    """What the test server saw, per key (each test uses keys of its own)."""

    url: str = ""
    hits: dict[str, list[Hit]] = field(default_factory=lambda: defaultdict(list))

    def count(self, key: str) -> int:
        return len(self.hits[key])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _build_downstream(state: Downstream) -> Starlette:
    def record(request: Request) -> str:
        key = request.path_params["key"]
        state.hits[key].append(Hit(time.monotonic(), dict(request.headers)))
        return str(key)

    async def echo(request: Request) -> Response:
        record(request)
        return JSONResponse(
            {
                "budget_ms": request.headers.get("x-request-budget-ms"),
                "traceparent": request.headers.get("traceparent"),
            }
        )

    async def fail(request: Request) -> Response:
        """Fails the first `times` hits of the key (all of them by default), then 200."""
        key = record(request)
        times = int(request.query_params.get("times", "1000000"))
        if state.count(key) <= times:
            status = int(request.query_params.get("status", "503"))
            headers = {}
            if "retry_after" in request.query_params:
                headers["Retry-After"] = request.query_params["retry_after"]
            return JSONResponse({"failed": True}, status_code=status, headers=headers)
        return JSONResponse({"ok": True})

    async def slow(request: Request) -> Response:
        record(request)
        await asyncio.sleep(float(request.query_params.get("delay", "0.1")))
        return JSONResponse({"hit": len(state.hits[request.path_params["key"]])})

    return Starlette(
        routes=[
            Route("/echo/{key}", echo),
            Route("/fail/{key}", fail, methods=["GET", "POST"]),
            Route("/slow/{key}", slow),
        ]
    )


@pytest.fixture(scope="module")
async def downstream() -> AsyncIterator[Downstream]:
    state = Downstream()
    async with serving(_build_downstream(state)) as url:
        state.url = url
        yield state


def _state(client: ResilientClient) -> CircuitState:
    return client.breaker.state


def _key() -> str:
    return uuid.uuid4().hex


def _policy(**overrides: object) -> DownstreamPolicy:
    values: dict[str, object] = {
        "connect_timeout_s": 1.0,
        "read_timeout_s": 2.0,
        "deadline_s": 5.0,
        "backoff_initial_s": 0.001,
        "backoff_max_s": 0.01,
        "breaker": BreakerPolicy(minimum_calls=1_000_000),
    }
    values.update(overrides)
    return DownstreamPolicy.model_validate(values)


async def test_failing_downstream_opens_the_breaker_then_half_open_probes_close_it(
    downstream: Downstream,
) -> None:
    clock, key = FakeClock(), _key()
    breaker = BreakerPolicy(
        minimum_calls=4, failure_rate_threshold=0.5, open_wait_s=10, half_open_max_calls=2
    )
    policy = _policy(max_attempts=1, breaker=breaker)
    async with ResilientClient("flaky", downstream.url, policy, clock=clock) as client:
        for _ in range(4):
            assert (await client.get(f"/fail/{key}", params={"times": 4})).status_code == 503
        assert client.breaker.state is CircuitState.OPEN

        with pytest.raises(DownstreamUnavailable) as refused:
            await client.get(f"/fail/{key}", params={"times": 4})
        assert refused.value.status == 503
        assert int(refused.value.headers["Retry-After"]) >= 1
        assert downstream.count(key) == 4  # failed fast: the downstream never saw it

        clock.now += 10 * 1.2 + 0.1  # past the jittered wait
        assert _state(client) is CircuitState.HALF_OPEN
        for _ in range(2):
            assert (await client.get(f"/fail/{key}", params={"times": 4})).status_code == 200
        assert _state(client) is CircuitState.CLOSED


async def test_slow_downstream_opens_the_breaker_through_the_slow_call_rate(
    downstream: Downstream,
) -> None:
    key = _key()
    breaker = BreakerPolicy(
        minimum_calls=3, slow_call_duration_s=0.05, slow_call_rate_threshold=0.5, open_wait_s=60
    )
    async with ResilientClient("sluggish", downstream.url, _policy(breaker=breaker)) as client:
        for _ in range(3):
            response = await client.get(f"/slow/{key}", params={"delay": 0.1})
            assert response.status_code == 200
        assert client.breaker.state is CircuitState.OPEN
        with pytest.raises(DownstreamUnavailable):
            await client.get(f"/slow/{key}")
    assert downstream.count(key) == 3


async def test_sustained_failure_stays_within_the_retry_budget(downstream: Downstream) -> None:
    clock, key, calls = FakeClock(), _key(), 200
    policy = _policy(
        max_attempts=5,
        retry_budget_ratio=0.2,
        retry_budget_window_s=10,
        retry_budget_min_retries_per_s=0.1,
    )
    async with ResilientClient("down", downstream.url, policy, clock=clock) as client:
        for _ in range(calls):
            assert (await client.get(f"/fail/{key}")).status_code == 503
    floor = 0.1 * 10
    assert calls < downstream.count(key) <= calls * 1.2 + floor


async def test_downstream_receives_the_remaining_budget(downstream: Downstream) -> None:
    key = _key()
    async with ResilientClient("echo", downstream.url, _policy(deadline_s=5.0)) as client:
        token = deadline_var.set(time.monotonic() + 0.8)  # as inside a request with 0.8 s left
        try:
            body = (await client.get(f"/echo/{key}")).json()
        finally:
            deadline_var.reset(token)
    assert 0 < int(body["budget_ms"]) <= 800


def _service_settings() -> ServiceSettings:
    return ServiceSettings.model_validate(
        {
            "service_name": "callee",
            "db_schema": "callee",
            "database_url": "postgresql+asyncpg://callee:pw@127.0.0.1:9/callee",
            "request_timeout_s": 30,
            "log_format": "console",
        }
    )


async def test_servicekit_callee_stops_its_work_when_the_budget_is_spent() -> None:
    outcome: list[str] = []
    router = APIRouter()

    @router.get("/slow")
    async def slow_route() -> dict[str, str]:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        outcome.append("finished")
        return {"done": "yes"}

    app = create_app(_service_settings(), routers=[router])
    # The callee gets 0.3 s of the caller's 3 s and answers 504 long before the caller gives up.
    policy = _policy(deadline_s=3.0, budget_margin_s=2.7, max_attempts=1)
    async with serving(app) as url, ResilientClient("callee", url, policy) as client:
        response = await client.get("/slow")
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"
    assert outcome == ["cancelled"]


async def test_the_overall_deadline_is_a_504_problem(downstream: Downstream) -> None:
    async with ResilientClient("sleepy", downstream.url, _policy(deadline_s=0.2)) as client:
        with pytest.raises(DeadlineExceeded) as exceeded:
            await client.get(f"/slow/{_key()}", params={"delay": 2})
    assert exceeded.value.status == 504


async def test_identical_concurrent_gets_reach_the_downstream_once(
    downstream: Downstream,
) -> None:
    key = _key()
    async with ResilientClient("shared", downstream.url, _policy()) as client:
        responses = await asyncio.gather(*(client.get(f"/slow/{key}") for _ in range(50)))
        assert downstream.count(key) == 1
        assert {r.status_code for r in responses} == {200}
        assert all(r.json() == {"hit": 1} for r in responses)

        await client.get(f"/slow/{key}")  # nothing cached once the flight has landed
        assert downstream.count(key) == 2


async def test_post_is_retried_only_with_an_idempotency_key(downstream: Downstream) -> None:
    plain, keyed = _key(), _key()
    async with ResilientClient("writes", downstream.url, _policy()) as client:
        response = await client.post(f"/fail/{plain}", params={"times": 1}, json={"a": 1})
        assert response.status_code == 503
        assert downstream.count(plain) == 1

        response = await client.post(
            f"/fail/{keyed}",
            params={"times": 1},
            json={"a": 1},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 200
        assert downstream.count(keyed) == 2


async def test_retry_after_is_honoured(downstream: Downstream) -> None:
    key = _key()
    async with ResilientClient("throttled", downstream.url, _policy()) as client:
        response = await client.get(f"/fail/{key}", params={"times": 1, "retry_after": 1})
    assert response.status_code == 200
    first, second = downstream.hits[key]
    assert second.at - first.at >= 1.0


async def test_trace_context_is_propagated_with_a_client_span(downstream: Downstream) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    key = _key()
    tracer = provider.get_tracer("test")
    async with ResilientClient("traced", downstream.url, _policy(), tracer_provider=provider) as c:
        with tracer.start_as_current_span("caller") as parent:
            body = (await c.get(f"/echo/{key}", params={"token": "s3cret", "q": "x"})).json()
    trace_id = format(parent.get_span_context().trace_id, "032x")
    assert body["traceparent"].split("-")[1] == trace_id
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "GET"]
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
    assert "s3cret" not in str(span.attributes["url.full"])
    assert span.attributes["server.address"] == "127.0.0.1"
    provider.shutdown()


async def test_a_client_built_before_the_app_adopts_its_tracer_provider(
    downstream: Downstream,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with ResilientClient("adopted", downstream.url, _policy()) as client:
        client.use_tracer_provider(provider)
        await client.get(f"/echo/{_key()}")
    assert [span.name for span in exporter.get_finished_spans()] == ["GET"]
    provider.shutdown()


def test_downstream_policies_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "DOWNSTREAMS",
        '{"catalog": {"base_url": "http://catalog:8000", "read_timeout_s": 1,'
        ' "breaker": {"minimum_calls": 5}}}',
    )
    policy = DownstreamSettings().downstream("catalog")
    assert policy.base_url == "http://catalog:8000"
    assert policy.read_timeout_s == 1
    assert policy.breaker.minimum_calls == 5
    with pytest.raises(KeyError):
        DownstreamSettings().downstream("nowhere")


async def test_an_unreachable_downstream_reaches_the_caller_s_client_as_a_503_problem() -> None:
    router = APIRouter()
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = ResilientClient("catalog", nowhere, _policy(max_attempts=2))

    @router.get("/prices")
    async def prices() -> dict[str, str]:
        response = await client.get("/v1/products")
        return {"status": str(response.status_code)}

    app = create_app(_service_settings(), routers=[router])
    async with (
        serving(app) as url,
        ResilientClient("caller", url, _policy(max_attempts=1)) as caller,
    ):
        answer = await caller.get("/prices")
    await client.aclose()
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert int(answer.headers["retry-after"]) >= 1
    body = answer.json()
    assert body["dependency"] == "catalog"
    assert "Traceback" not in answer.text
