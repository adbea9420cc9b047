"""No service's route runs a plain `def` endpoint or dependency: FastAPI runs those in its thread
pool, a thread hand-off (and a wake-up of a pool thread) per request, which under the saga load
cost more CPU than the attribute reads they did. Work that does block belongs in an explicit
`run_in_threadpool`/`anyio.to_thread` call, where a reader sees it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from devstack.openapi import service_api
from devstack.routes import load_routes


def _threaded(dependant: Dependant, where: str) -> Iterator[str]:
    call = dependant.call
    if call is not None and not (
        dependant.is_coroutine_callable or dependant.is_async_gen_callable
    ):
        yield f"{where}: {getattr(call, '__qualname__', call)!r}"
    for sub in dependant.dependencies:
        yield from _threaded(sub, where)


@pytest.mark.parametrize("service", sorted({route.service for route in load_routes()}))
def test_no_route_of_the_service_runs_in_the_thread_pool(service: str) -> None:
    routes = [
        route
        for router in service_api(service).routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    assert routes, f"{service} declares no routes"
    threaded = [
        found
        for route in routes
        for found in _threaded(route.dependant, f"{sorted(route.methods)} {route.path}")
    ]
    assert threaded == []
