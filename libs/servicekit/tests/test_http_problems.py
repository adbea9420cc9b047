"""Every error a service returns is RFC 9457 problem+json, never a stack trace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY
from pydantic import BaseModel

from servicekit.app import create_app
from servicekit.errors import ProblemError
from servicekit.idempotency import idempotency_exempt
from servicekit.settings import ServiceSettings

router = APIRouter()


class Greeting(BaseModel):
    name: str
    count: int


@router.post(
    "/greetings", openapi_extra=idempotency_exempt("a chassis test route that stores nothing")
)
async def greet(body: Greeting) -> dict[str, str]:
    return {"hello": body.name}


@router.get("/conflict")
async def conflict() -> None:
    raise ProblemError("Already there.", status=409, slug="already-there")


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals: password=hunter2")


@router.get("/slow")
async def slow() -> dict[str, str]:
    await asyncio.sleep(5)
    return {"done": "yes"}


def _settings(**overrides: object) -> ServiceSettings:
    values: dict[str, object] = {
        "service_name": "probe",
        "db_schema": "probe",
        # Nothing listens here: these tests never touch the database.
        "database_url": "postgresql+asyncpg://probe:pw@127.0.0.1:9/probe",
        "max_body_bytes": 4096,
        "request_timeout_s": 0.5,
        "log_format": "console",
    }
    values.update(overrides)
    return ServiceSettings.model_validate(values)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(_settings(), routers=[router])
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
            yield http


def _assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert "Traceback" not in response.text
    return dict(body)


async def test_malformed_json_is_a_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/greetings", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert _assert_problem(response, 400)["type"] == "urn:flotilla:problem:malformed-json"


async def test_wrong_types_and_missing_fields_are_a_422_problem_listing_each(
    client: httpx.AsyncClient,
) -> None:
    body = _assert_problem(await client.post("/greetings", json={"name": 3}), 422)
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {tuple(error["loc"]) for error in errors} == {("body", "name"), ("body", "count")}


async def test_unknown_route_and_wrong_method_are_problems(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.get("/no/such/route"), 404)
    _assert_problem(await client.delete("/greetings"), 405)


async def test_a_raised_problem_keeps_its_status_type_and_detail(
    client: httpx.AsyncClient,
) -> None:
    body = _assert_problem(await client.get("/conflict"), 409)
    assert body["type"] == "urn:flotilla:problem:already-there"
    assert body["detail"] == "Already there."


async def test_an_unhandled_error_is_a_500_problem_that_reveals_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/boom")
    _assert_problem(response, 500)
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text


async def test_a_declared_oversized_body_is_refused_with_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/greetings", content=b"x" * 10_000, headers={"content-type": "application/json"}
    )
    assert _assert_problem(response, 413)["type"] == "urn:flotilla:problem:body-too-large"


async def test_a_streamed_oversized_body_is_refused_with_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    response = await client.post(
        "/greetings", content=chunks(), headers={"content-type": "application/json"}
    )
    assert _assert_problem(response, 413)["type"] == "urn:flotilla:problem:body-too-large"


async def test_work_past_the_deadline_is_cut_with_504(client: httpx.AsyncClient) -> None:
    body = _assert_problem(await client.get("/slow"), 504)
    assert body["type"] == "urn:flotilla:problem:deadline-exceeded"


async def test_the_callers_budget_header_shortens_the_deadline(client: httpx.AsyncClient) -> None:
    response = await client.get("/slow", headers={"x-request-budget-ms": "50"})
    body = _assert_problem(response, 504)
    assert "0.05" in str(body["detail"])


async def test_concurrent_requests_are_each_cut_at_their_own_deadline(
    client: httpx.AsyncClient,
) -> None:
    # Deadlines due in the same slot share a timer, others have their own: every one is cut.
    budgets_ms = (30, 30, 35, 120, 200)
    responses = await asyncio.gather(
        *(client.get("/slow", headers={"x-request-budget-ms": str(ms)}) for ms in budgets_ms)
    )
    for ms, response in zip(budgets_ms, responses, strict=True):
        body = _assert_problem(response, 504)
        assert f"{ms / 1000:.3g} s" in str(body["detail"])


async def test_a_spent_budget_is_refused_before_the_route_runs(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom", headers={"x-request-budget-ms": "0"})
    assert _assert_problem(response, 504)["type"] == "urn:flotilla:problem:deadline-exceeded"


def _refused(reason: str) -> float:
    value = REGISTRY.get_sample_value("flotilla_http_requests_rejected_total", {"reason": reason})
    return value or 0.0


async def test_every_refusal_is_counted_once_by_its_reason(client: httpx.AsyncClient) -> None:
    before = {reason: _refused(reason) for reason in _REFUSALS}

    async def streamed() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    json_body = {"content-type": "application/json"}
    refused = [
        await client.post("/greetings", content=b"x" * 10_000, headers=json_body),
        await client.post("/greetings", content=streamed(), headers=json_body),
        await client.get("/conflict?name=%00"),
        await client.post("/greetings", content=b'{"name": "a\\u0000", "count": 1}'),
        await client.get("/slow", headers={"x-request-budget-ms": "20"}),
        await client.get("/slow", headers={"x-request-budget-ms": "0"}),
    ]

    assert [response.status_code for response in refused] == [413, 413, 422, 422, 504, 504]
    counted = {reason: _refused(reason) - before[reason] for reason in _REFUSALS}
    assert counted == {"body_too_large": 2, "nul_character": 2, "deadline_exceeded": 2}


_REFUSALS = ("body_too_large", "nul_character", "deadline_exceeded")


async def test_every_response_carries_the_request_id_given_or_made(
    client: httpx.AsyncClient,
) -> None:
    given = await client.get("/livez", headers={"x-request-id": "req-12345678"})
    assert given.headers["x-request-id"] == "req-12345678"
    made = await client.get("/conflict")
    assert len(made.headers["x-request-id"]) == 32
    assert made.json()["request_id"] == made.headers["x-request-id"]


async def test_readiness_names_the_database_when_it_is_down(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]
    assert (await client.get("/livez")).status_code == 200


async def test_metrics_export_the_golden_signals_by_route_template(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/greetings", json={"name": "a", "count": 1})
    text = (await client.get("/metrics")).text
    assert 'http_route="/greetings"' in text
    assert "http_server_request_duration_seconds_bucket" in text
    assert "http_server_active_requests" in text
    assert 'flotilla_build_info{git_sha="unknown",service="probe",version="0.1.0"} 1.0' in text
