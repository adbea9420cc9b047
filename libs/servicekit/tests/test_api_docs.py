"""The API documents are served by value: on in dev and test, off in prod (API_DOCS=false)."""

from __future__ import annotations

import httpx
import pytest

from servicekit.app import create_app
from servicekit.settings import ServiceSettings

DOCS = ("/docs", "/redoc", "/openapi.json")


def _client(**overrides: object) -> httpx.AsyncClient:
    settings = ServiceSettings.model_validate(
        {
            "service_name": "probe",
            "db_schema": "probe",
            # Nothing listens here: these requests never touch the database.
            "database_url": "postgresql+asyncpg://probe:pw@127.0.0.1:9/probe",
            "log_format": "console",
            **overrides,
        }
    )
    transport = httpx.ASGITransport(app=create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url="http://probe")


@pytest.mark.parametrize("path", DOCS)
async def test_docs_are_served_by_default(path: str) -> None:
    async with _client() as client:
        assert (await client.get(path)).status_code == 200


@pytest.mark.parametrize("path", DOCS)
async def test_docs_off_are_a_404_problem(path: str) -> None:
    async with _client(api_docs=False) as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
