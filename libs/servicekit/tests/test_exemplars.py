"""A latency bucket links to a trace: a sampled request lends its trace id to its bucket as the
exemplar Prometheus scrapes (OpenMetrics), each bucket of a series taking one at most once a
second; a request outside any sampled trace never does."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter

from servicekit.app import create_app
from servicekit.observability.exemplars import ExemplarPace
from servicekit.settings import ServiceSettings

ROUTE = "/exemplar-probe"  # a route of this module alone: the metrics registry is the process'
router = APIRouter()


@router.get(ROUTE)
async def probe() -> dict[str, str]:
    return {"ok": "yes"}


BOUNDS = (0.005, 0.01, 0.025)


def test_a_bucket_takes_an_exemplar_at_most_once_per_interval() -> None:
    pace = ExemplarPace(BOUNDS, interval_s=1.0)
    assert pace.due("a", 0.004, now=100.0)
    assert not pace.due("a", 0.001, now=100.5)  # the same bucket (<= 0.005), within the second
    assert not pace.due("a", 0.005, now=100.5)  # a bound belongs to its own bucket
    assert pace.due("a", 0.006, now=100.5)  # the next bucket has its own pace
    assert pace.due("b", 0.004, now=100.5)  # and so has another series
    assert pace.due("a", 0.004, now=101.0)  # a second later, the bucket takes one again


def test_values_above_every_bound_share_the_infinite_bucket() -> None:
    pace = ExemplarPace(BOUNDS)
    assert pace.due("a", 0.025, now=0.0)  # the last bound's bucket
    assert pace.due("a", 0.026, now=0.0)  # +Inf
    assert not pace.due("a", 30.0, now=0.5)


@pytest.fixture
async def service() -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings.model_validate(
        {
            "service_name": "probe",
            "db_schema": "probe",
            # Nothing listens here: these tests never touch the database.
            "database_url": "postgresql+asyncpg://probe:pw@127.0.0.1:9/probe",
            "log_format": "console",
            "otel_traces_sampler": "parentbased_always_off",  # only callers' sampled traces
        }
    )
    app = create_app(settings, routers=[router])
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
            yield http


def _traceparent(trace_id: str, sampled: bool) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-{'01' if sampled else '00'}"}


async def _exemplar_trace_ids(http: httpx.AsyncClient) -> list[str]:
    scraped = await http.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    return re.findall(
        rf'^http_server_request_duration_seconds_bucket\{{[^}}]*http_route="{ROUTE}"[^}}]*\}} .*'
        r'# \{trace_id="([0-9a-f]{32})"\}',
        scraped.text,
        flags=re.MULTILINE,
    )


async def test_a_sampled_request_lends_its_trace_to_its_bucket_once_a_second(
    service: httpx.AsyncClient,
) -> None:
    unsampled, first, second = (secrets.token_hex(16) for _ in range(3))
    assert (await service.get(ROUTE, headers=_traceparent(unsampled, False))).is_success
    assert await _exemplar_trace_ids(service) == []
    assert (await service.get(ROUTE, headers=_traceparent(first, True))).is_success
    assert (await service.get(ROUTE, headers=_traceparent(second, True))).is_success
    # Within the second, a bucket keeps its first sampled trace; only were the two requests
    # in different buckets (a slow machine) would the second have one of its own.
    lent = await _exemplar_trace_ids(service)
    assert lent == [first] or sorted(lent) == sorted([first, second])
