"""The API documents are served by value: on in dev and test, off in prod (API_DOCS=false); the
docs pages load their files from the service, never from another host."""

from __future__ import annotations

import re
from pathlib import Path

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


# Any absolute URL or protocol-relative reference: a page that names one loads from elsewhere.
_OTHER_HOST = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_name_no_other_host(page: str) -> None:
    async with _client(root_path="/probe") as client:
        html = (await client.get(page)).text
    assert _OTHER_HOST.findall(html) == []
    assert "/probe/docs-assets/" in html  # under the gateway's prefix
    assert "/probe/openapi.json" in html


async def test_docs_assets_are_served_from_the_configured_folder(tmp_path: Path) -> None:
    (tmp_path / "redoc").mkdir()
    (tmp_path / "redoc" / "redoc.standalone.js").write_text("/* redoc */")
    (tmp_path / "redoc" / "other.js").write_text("/* not a docs file */")
    async with _client(docs_assets_dir=str(tmp_path), root_path="/probe") as client:
        found = await client.get("/docs-assets/redoc/redoc.standalone.js")
        unlisted = await client.get("/docs-assets/redoc/other.js")
        absent = await client.get("/docs-assets/swagger-ui/swagger-ui.css")
        outside = await client.get("/docs-assets/redoc/..%2F..%2Fetc%2Fpasswd")
    assert found.status_code == 200
    assert found.text == "/* redoc */"
    assert found.headers["content-type"].startswith("text/javascript")
    assert [unlisted.status_code, absent.status_code, outside.status_code] == [404, 404, 404]
