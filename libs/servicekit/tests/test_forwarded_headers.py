"""A request's client and scheme are the ones a trusted proxy (the gateway, on loopback) says it
came with — `X-Forwarded-For`, `X-Forwarded-Proto` — and the connection's own for anyone else:
a caller cannot claim another address by sending the headers itself."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI, Request

from devstack.process import free_port
from servicekit.app import create_app
from servicekit.server import server_config
from servicekit.settings import ServiceSettings
from servicekit.testing import serving

router = APIRouter()


@router.get("/whoami")
async def whoami(request: Request) -> dict[str, str | None]:
    return {
        "client": request.client.host if request.client else None,
        "scheme": request.url.scheme,
    }


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    settings = ServiceSettings.model_validate(
        {
            "service_name": "probe",
            "db_schema": "probe",
            # Nothing listens here: these tests never touch the database.
            "database_url": "postgresql+asyncpg://probe:pw@127.0.0.1:9/probe",
            "log_format": "console",
        }
    )
    application = create_app(settings, routers=[router])
    async with LifespanManager(application):
        yield application


async def _whoami(app: FastAPI, client: str, headers: dict[str, str]) -> dict[str, str]:
    transport = httpx.ASGITransport(app=app, client=(client, 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
        response = await http.get("/whoami", headers=headers)
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    return body


async def test_the_gateways_forwarded_headers_name_the_client_and_scheme(app: FastAPI) -> None:
    assert await _whoami(app, "127.0.0.1", FORWARDED) == {
        "client": "203.0.113.7",
        "scheme": "https",
    }


async def test_without_forwarded_headers_the_connection_is_the_client(app: FastAPI) -> None:
    assert await _whoami(app, "127.0.0.1", {}) == {"client": "127.0.0.1", "scheme": "http"}


async def test_a_caller_that_is_not_a_trusted_proxy_cannot_claim_another_address(
    app: FastAPI,
) -> None:
    assert await _whoami(app, "198.51.100.9", FORWARDED) == {
        "client": "198.51.100.9",
        "scheme": "http",
    }


async def test_the_client_is_the_nearest_address_no_trusted_proxy_added(app: FastAPI) -> None:
    # The caller wrote the first address itself; the gateway appended the one it saw.
    chain = {"X-Forwarded-For": "192.0.2.1, 203.0.113.7, 127.0.0.1"}
    assert (await _whoami(app, "127.0.0.1", chain))["client"] == "203.0.113.7"


async def test_an_unknown_forwarded_scheme_is_ignored(app: FastAPI) -> None:
    body = await _whoami(app, "127.0.0.1", {"X-Forwarded-Proto": "gopher"})
    assert body == {"client": "127.0.0.1", "scheme": "http"}


async def test_a_served_service_still_believes_the_gateway(app: FastAPI) -> None:
    """Served as `servicekit.server` serves it: uvicorn leaves the headers to the chassis."""
    settings: ServiceSettings = app.state.settings
    served = settings.model_copy(update={"http_host": "127.0.0.1", "http_port": free_port()})
    async with serving(server_config(app, served)) as url, httpx.AsyncClient() as http:
        chain = {"X-Forwarded-For": "192.0.2.1, 127.0.0.1", "X-Forwarded-Proto": "https"}
        forwarded = await http.get(f"{url}/whoami", headers=chain)
        assert forwarded.json() == {"client": "192.0.2.1", "scheme": "https"}
        direct = await http.get(f"{url}/whoami")
        assert direct.json() == {"client": "127.0.0.1", "scheme": "http"}
