"""The docs pages, opened in a real browser, need nothing from outside the machine.

Debian's Chromium (installed by `make test`, devstack.toolchain) opens each page of the running
gateway headless, able to resolve no host but 127.0.0.1 and with no proxy
(devstack.browser). For each page: every request it tried went to 127.0.0.1 (a script, style,
font or image from a CDN would be on the list, refused), it rendered what a reader came for
(read from the live DOM once its scripts ran, not from the HTML sent), and its screenshot is kept
in test-artefacts/docs/, which `make test` does not delete.

tests/e2e/test_docs_portal.py checks the same pages over plain HTTP; this test is what notices a
page that names no other host in its HTML but whose scripts fetch one, or that never renders.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from contracts.artifacts import schema_dir
from devstack.browser import DevTools, PageVisit, Request, launch, visit
from devstack.openapi import document_path
from devstack.profiles import Profile
from devstack.routes import Route, load_routes
from devstack.stack import Stack

PUBLIC = [route for route in load_routes() if route.public]


@pytest.fixture(scope="module")
async def browser(test_stack: Stack) -> AsyncIterator[DevTools]:
    async with launch() as devtools:
        yield devtools


async def _open(
    browser: DevTools, profile: Profile, path: str, shows: tuple[str, ...], screenshot: Path
) -> PageVisit:
    page = await visit(browser, profile.gateway_url + path, shows=shows, screenshot=screenshot)
    elsewhere = page.not_to("127.0.0.1")
    assert elsewhere == [], f"{path} asked another host for: {'; '.join(map(str, elsewhere))}"
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    return page


def _document(route: Route) -> dict[str, Any]:
    """The service's committed OpenAPI document: what its docs pages show (the test of
    test_docs_portal.py checks the service serves it)."""
    document: dict[str, Any] = json.loads(Path(document_path(route.service)).read_text())
    return document


def _first_operation(route: Route) -> tuple[str, str]:
    """The path and summary of the service's first operation."""
    path, item = next(iter(_document(route)["paths"].items()))
    return path, next(iter(item.values()))["summary"]


async def test_the_landing_page_renders_from_the_machine_alone(
    browser: DevTools, stack_profile: Profile, docs_screenshots: Path
) -> None:
    titles = tuple(_document(route)["info"]["title"] for route in PUBLIC)
    page = await _open(
        browser, stack_profile, "/", ("Flotilla", *titles), docs_screenshots / "landing.png"
    )
    assert page.requests[0] == Request(f"{stack_profile.gateway_url}/", "Document")


# Each page lists the service's operations, rendered by its script from the OpenAPI document it
# fetched (the HTML the service sends names neither): Swagger UI with their summaries, ReDoc by
# path (a summary shows when its operation is opened).
_DOCS_PAGES = {"docs": ("swagger-ui", 1), "redoc": ("redoc", 0)}


@pytest.mark.parametrize("page", _DOCS_PAGES)
@pytest.mark.parametrize("route", PUBLIC, ids=lambda route: route.service)
async def test_each_services_docs_pages_render_its_operations_from_the_machine_alone(
    browser: DevTools, stack_profile: Profile, docs_screenshots: Path, route: Route, page: str
) -> None:
    name, shown_part = _DOCS_PAGES[page]
    opened = await _open(
        browser,
        stack_profile,
        f"{route.prefix}/{page}",
        (_document(route)["info"]["title"], _first_operation(route)[shown_part]),
        docs_screenshots / f"{route.service}-{name}.png",
    )
    assert f"{stack_profile.gateway_url}{route.prefix}/openapi.json" in {
        request.url for request in opened.requests
    }


async def test_the_events_reference_lists_every_event_from_the_machine_alone(
    browser: DevTools, stack_profile: Profile, docs_screenshots: Path
) -> None:
    event_types = tuple(sorted(path.name[:-5] for path in schema_dir().glob("*.json")))
    assert event_types
    await _open(
        browser,
        stack_profile,
        "/events/",
        ("Flotilla events", *event_types),
        docs_screenshots / "events.png",
    )
