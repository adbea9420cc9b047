"""The headless browser of devstack.browser catches what the docs test relies on it to catch: a
page that reaches for another host, from its HTML or from a worker, is reported (and refused),
and a page that never renders what it should fails with a message and a screenshot.

The pages are files of a temporary folder served on 127.0.0.1 by the standard library's HTTP
server; the "other hosts" are names the browser may not resolve.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devstack.browser import BrowserError, DevTools, launch, visit

_PAGE = """<!doctype html>
<html><head>
  <link rel="stylesheet" href="https://fonts.example-cdn.com/css?family=Inter">
  <script src="https://cdn.example-cdn.com/lib.js"></script>
  <script src="/local.js" defer></script>
  <script>new Worker("/worker.js");</script>
</head><body><p>Written by hand.</p></body></html>
"""
_LOOPBACK_ONLY = '<!doctype html><body><script src="/local.js"></script></body>'

_LOCAL_SCRIPT = """
const line = document.createElement("p");
line.textContent = "Written by a script";
document.body.appendChild(line);
"""
_WORKER = 'fetch("https://telemetry.example-cdn.net/beacon").catch(() => {});'


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _favicon(site: str) -> set[str]:
    """The browser asks the page's host for its icon, once the page has loaded: sometimes in time
    to be recorded, sometimes not."""
    return {f"{site}/favicon.ico"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("site")
    (folder / "page.html").write_text(_PAGE)
    (folder / "loopback-only.html").write_text(_LOOPBACK_ONLY)
    (folder / "local.js").write_text(_LOCAL_SCRIPT)
    (folder / "worker.js").write_text(_WORKER)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[DevTools]:
    async with launch() as devtools:
        yield devtools


async def test_every_request_to_another_host_is_reported_and_refused(
    browser: DevTools, site: str, tmp_path: Path
) -> None:
    page = await visit(
        browser,
        f"{site}/page.html",
        shows=("Written by hand.", "Written by a script"),
        screenshot=tmp_path / "page.png",
    )
    outside = {request.url: request for request in page.not_to()}
    assert set(outside) == {
        "https://fonts.example-cdn.com/css?family=Inter",
        "https://cdn.example-cdn.com/lib.js",
        "https://telemetry.example-cdn.net/beacon",  # asked for by the page's worker
    }
    assert {request.failure for request in outside.values()} == {"net::ERR_NAME_NOT_RESOLVED"}
    local = {request.url for request in page.requests} - set(outside) - _favicon(site)
    assert local == {f"{site}/page.html", f"{site}/local.js", f"{site}/worker.js"}


async def test_a_page_of_loopback_requests_only_has_nothing_to_report(
    browser: DevTools, site: str, tmp_path: Path
) -> None:
    page = await visit(
        browser,
        f"{site}/loopback-only.html",
        shows=("Written by a script",),
        screenshot=tmp_path / "loopback-only.png",
    )
    assert page.not_to() == []
    assert [request.url for request in page.requests if request.url not in _favicon(site)] == [
        f"{site}/loopback-only.html",
        f"{site}/local.js",
    ]
    assert page.text == "Written by a script"


async def test_a_page_that_never_renders_fails_with_its_screenshot(
    browser: DevTools, site: str, tmp_path: Path
) -> None:
    with pytest.raises(BrowserError, match="did not show 'Never written' within 2 s"):
        await visit(
            browser,
            f"{site}/page.html",
            shows=("Never written",),
            screenshot=tmp_path / "never.png",
            timeout_s=2,
        )
    assert (tmp_path / "never.png").read_bytes().startswith(b"\x89PNG")


async def test_a_browser_that_does_not_start_fails_with_a_message(tmp_path: Path) -> None:
    not_a_browser = tmp_path / "chromium"
    not_a_browser.write_text("#!/bin/sh\necho 'no display, no luck' >&2\nexit 3\n")
    not_a_browser.chmod(0o755)
    with pytest.raises(BrowserError, match=r"closed its DevTools pipe(.|\n)*no display, no luck"):
        async with launch(not_a_browser, timeout_s=10):
            pass
