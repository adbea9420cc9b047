"""A service's routes are tried before the chassis' (each failed match costs every request),
and no service route may answer a path the chassis serves."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter

from servicekit.app import create_app
from servicekit.settings import ServiceSettings

pytestmark = pytest.mark.unit


def _settings() -> ServiceSettings:
    return ServiceSettings.model_validate(
        {
            "service_name": "probe",
            "db_schema": "probe",
            # Nothing listens here: building the app never connects.
            "database_url": "postgresql+asyncpg://probe:pw@127.0.0.1:9/probe",
            "log_format": "console",
        }
    )


def _router(path: str) -> APIRouter:
    router = APIRouter()

    @router.get(path)
    async def read() -> dict[str, str]:
        return {"answered_by": "the service"}

    return router


def test_the_services_routes_come_before_the_chassis_routes() -> None:
    app = create_app(_settings(), routers=[_router("/v1/things"), _router("/v1/other")])

    paths = [getattr(route, "path", None) for route in app.router.routes]

    assert paths[:2] == ["/v1/things", "/v1/other"]
    assert {"/livez", "/readyz", "/healthz", "/metrics", "/openapi.json"} <= set(paths[2:])


@pytest.mark.parametrize(
    ("path", "shadowed"),
    [
        ("/livez", "GET /livez"),
        ("/{page}", "GET /livez"),
        ("/{page}", "GET /metrics"),
        ("/docs-assets/{package}/{name}", "GET /docs-assets/{package}/{name}"),
    ],
)
def test_a_service_route_at_a_chassis_path_is_refused(path: str, shadowed: str) -> None:
    with pytest.raises(TypeError, match="may not answer a path the chassis serves") as refused:
        create_app(_settings(), routers=[_router(path)])

    assert f"GET {path} matches the chassis' {shadowed}" in str(refused.value)


async def test_the_chassis_still_answers_its_paths_behind_the_service() -> None:
    app = create_app(_settings(), routers=[_router("/v1/things/{thing_id}")])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        assert (await client.get("/livez")).status_code == 200
        assert (await client.get("/v1/things/1")).json() == {"answered_by": "the service"}
        assert (await client.get("/v1/nothing")).status_code == 404
