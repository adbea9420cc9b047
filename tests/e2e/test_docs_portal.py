"""The docs portal through the running gateway: the landing page lists every public service,
each event's schema is served as JSON, the docs pages name no outside host and load their files
from the service, and the internal endpoints stay behind the edge."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from contracts.artifacts import schema_dir
from devstack.openapi import document_path
from devstack.routes import load_routes

PUBLIC = [route for route in load_routes() if route.public]
# An absolute or protocol-relative URL: a page that names one loads from another host.
_OTHER_HOST = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+")


class _References(HTMLParser):
    """Every href and src of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in ("href", "src") and value]


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.found


async def test_the_landing_page_lists_every_public_service(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    links = set(_references(response.text))
    for route in PUBLIC:
        for page in ("docs", "redoc", "openapi.json", "status"):
            assert f"{route.prefix}/{page}" in links, (route.service, page)
    assert "/psp/docs" not in links  # internal: the gateway does not serve it
    assert _OTHER_HOST.findall(response.text) == []


async def test_every_link_of_the_landing_page_answers(gateway: httpx.AsyncClient) -> None:
    links = _references((await gateway.get("/")).text)
    assert len(links) == 4 * len(PUBLIC) + len(list(schema_dir().glob("*.json")))
    for link in links:
        assert (await gateway.get(link)).status_code == 200, link


async def test_each_event_schema_is_served_as_json_at_a_stable_url(
    gateway: httpx.AsyncClient,
) -> None:
    schemas = sorted(schema_dir().glob("*.json"))
    assert schemas
    for path in schemas:
        response = await gateway.get(f"/schemas/{path.name}")
        assert response.status_code == 200, path.name
        assert response.headers["content-type"] == "application/schema+json"
        assert response.json() == json.loads(path.read_text())
    for missing in ("/schemas/nope.v1.json", "/schemas/../asyncapi.yaml", "/schemas/"):
        assert (await gateway.get(missing)).status_code == 404, missing


@pytest.mark.parametrize("route", PUBLIC, ids=lambda route: route.service)
async def test_docs_pages_load_their_files_from_the_service(
    gateway: httpx.AsyncClient, route: object
) -> None:
    prefix = route.prefix  # type: ignore[attr-defined]
    for page in ("docs", "redoc"):
        html = (await gateway.get(f"{prefix}/{page}")).text
        assert _OTHER_HOST.findall(html) == [], page
        scripts = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        scripts += re.findall(r"""url: ?["']([^"']+)["']""", html)
        assert scripts, page
        for reference in scripts:
            assert reference.startswith(f"{prefix}/"), (page, reference)
            answer = await gateway.get(reference)
            assert answer.status_code == 200, (page, reference)
            assert len(answer.content) > 0


@pytest.mark.parametrize("route", PUBLIC, ids=lambda route: route.service)
async def test_the_served_document_is_the_committed_one(
    gateway: httpx.AsyncClient, route: object
) -> None:
    service, prefix = route.service, route.prefix  # type: ignore[attr-defined]
    served = (await gateway.get(f"{prefix}/openapi.json")).json()
    committed = json.loads(Path(document_path(service)).read_text())
    served.pop("servers", None)  # the gateway's prefix, added per request
    assert served == committed


@pytest.mark.parametrize("route", PUBLIC, ids=lambda route: route.service)
async def test_status_is_a_constant_summary_and_probes_stay_internal(
    gateway: httpx.AsyncClient, route: object
) -> None:
    prefix = route.prefix  # type: ignore[attr-defined]
    status = await gateway.get(f"{prefix}/status")
    assert status.status_code == 200
    assert status.json() == {"status": "pass"}
    for internal in ("healthz", "readyz", "livez", "metrics", "version"):
        assert (await gateway.get(f"{prefix}/{internal}")).status_code == 404, internal
