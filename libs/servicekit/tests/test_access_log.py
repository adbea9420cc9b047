"""The access log follows the trace sampler: a request gets its line when its trace is sampled,
when it fails and when it is slow — so a busy service that samples its traces writes few lines
for its successes and every line for its trouble, and each line it writes for a success joins
a trace."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from opentelemetry import trace

from servicekit.app import create_app
from servicekit.errors import ProblemError
from servicekit.settings import ServiceSettings

router = APIRouter()
SLOW_REQUEST_S = 0.05


@router.get("/fast")
async def fast() -> dict[str, str]:
    return {"ok": "yes"}


@router.get("/slow")
async def slow() -> dict[str, str]:
    await asyncio.sleep(SLOW_REQUEST_S * 2)
    return {"ok": "eventually"}


@router.get("/missing")
async def missing() -> None:
    raise ProblemError("No such thing.", status=404, slug="not-found")


class _Lines(logging.Handler):
    """Keeps each access record, with the trace id its JSON line carries (the current span's)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.__dict__["current_trace_id"] = format(
            trace.get_current_span().get_span_context().trace_id, "032x"
        )
        self.records.append(record)


@pytest.fixture
def access_lines() -> Iterator[list[logging.LogRecord]]:
    handler = _Lines()
    access = logging.getLogger("servicekit.access")
    access.addHandler(handler)
    yield handler.records
    access.removeHandler(handler)


async def _client(sampler_ratio: float) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings.model_validate(
        {
            "service_name": "probe",
            "db_schema": "probe",
            # Nothing listens here: these tests never touch the database.
            "database_url": "postgresql+asyncpg://probe:pw@127.0.0.1:9/probe",
            "log_format": "console",
            "otel_traces_sampler": "parentbased_traceidratio",
            "otel_traces_sampler_arg": str(sampler_ratio),
            "slow_request_s": SLOW_REQUEST_S,
        }
    )
    app = create_app(settings, routers=[router])
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
            yield http


@pytest.fixture
async def unsampled() -> AsyncIterator[httpx.AsyncClient]:
    """A service that samples no trace of its own (ratio 0; a sampled parent still counts)."""
    async for client in _client(0.0):
        yield client


@pytest.fixture
async def sampling_all() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(1.0):
        yield client


def _paths(records: list[logging.LogRecord]) -> list[str]:
    return [record.getMessage().split()[1] for record in records]


async def test_a_fast_success_outside_any_sampled_trace_writes_no_line(
    unsampled: httpx.AsyncClient, access_lines: list[logging.LogRecord]
) -> None:
    assert (await unsampled.get("/fast")).status_code == 200
    assert access_lines == []


async def test_failures_and_slow_requests_always_write_their_line(
    unsampled: httpx.AsyncClient, access_lines: list[logging.LogRecord]
) -> None:
    assert (await unsampled.get("/missing")).status_code == 404
    assert (await unsampled.get("/no/such/route")).status_code == 404
    assert (await unsampled.get("/slow")).status_code == 200
    assert _paths(access_lines) == ["/missing", "/no/such/route", "/slow"]


async def test_a_request_in_a_sampled_trace_writes_its_line_with_the_trace_id(
    unsampled: httpx.AsyncClient, access_lines: list[logging.LogRecord]
) -> None:
    trace_id = secrets.token_hex(16)
    parent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    unsampled_parent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"
    assert (await unsampled.get("/fast", headers={"traceparent": parent})).status_code == 200
    assert (await unsampled.get("/fast", headers={"traceparent": unsampled_parent})).is_success
    [line] = access_lines
    assert _paths(access_lines) == ["/fast"]
    assert line.__dict__["http_response_status_code"] == 200
    assert line.__dict__["current_trace_id"] == trace_id


async def test_sampling_every_trace_logs_every_request(
    sampling_all: httpx.AsyncClient, access_lines: list[logging.LogRecord]
) -> None:
    for _ in range(3):
        assert (await sampling_all.get("/fast")).status_code == 200
    assert _paths(access_lines) == ["/fast"] * 3
