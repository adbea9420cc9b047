"""Opening one page in the headless browser and keeping what it did: every request it made
(its frames' and its workers' too), the text it rendered and a screenshot.

The requests are read from the DevTools protocol's `Network.requestWillBeSent`, which the browser
sends before it resolves a name, so a request that the browser then refuses (no host but
127.0.0.1 resolves, devstack.browser.devtools) is still on the list: the list is what the page
*tried*, not only what succeeded.

"Rendered" is judged from the live DOM after the page's scripts ran (`document.body.innerText`),
never from the HTML the server sent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from devstack.browser.devtools import BrowserError, DevTools, Json

__all__ = ["LOOPBACK", "PageVisit", "Request", "visit"]

LOOPBACK = "127.0.0.1"
# The page's own bytes: no request leaves the browser for these.
_LOCAL_SCHEMES = frozenset({"data", "blob", "about"})


@dataclass(frozen=True)
class Request:
    """One request a page (or one of its frames or workers) tried to make."""

    url: str
    kind: str  # the protocol's resource type: Document, Script, Stylesheet, Font, Fetch, ...
    failure: str = ""  # e.g. net::ERR_NAME_NOT_RESOLVED; empty when it was answered

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    def __str__(self) -> str:
        return f"{self.kind} {self.url}" + (f" ({self.failure})" if self.failure else "")


@dataclass(frozen=True)
class PageVisit:
    url: str
    requests: tuple[Request, ...]
    text: str  # what the page shows: document.body.innerText once it rendered
    screenshot: Path

    def not_to(self, host: str = LOOPBACK) -> list[Request]:
        """The requests that went (or tried to go) anywhere but `host`."""
        return [
            request
            for request in self.requests
            if urlsplit(request.url).scheme not in _LOCAL_SCHEMES and request.host != host
        ]


async def visit(
    devtools: DevTools,
    url: str,
    *,
    shows: tuple[str, ...],
    screenshot: Path,
    timeout_s: float = 30,
) -> PageVisit:
    """Open `url` in a new tab, wait until it has loaded and its rendered text contains every
    one of `shows` and no request is open, save a PNG of it to `screenshot` and close the tab.

    BrowserError after `timeout_s` s for any one wait, naming what did not happen; a page that
    never shows `shows` still gets its screenshot first, to see why."""
    blank = {"url": "about:blank"}
    target = (await devtools.call("Target.createTarget", blank, timeout_s=timeout_s))["targetId"]
    recorder = _Recorder(devtools, timeout_s)
    try:
        attached = await devtools.call(
            "Target.attachToTarget", {"targetId": target, "flatten": True}, timeout_s=timeout_s
        )
        page = attached["sessionId"]
        loaded = recorder.page_loaded(page)
        await recorder.watch(page, page=True)
        navigated = await devtools.call(
            "Page.navigate", {"url": url}, session=page, timeout_s=timeout_s
        )
        if navigated.get("errorText"):
            raise BrowserError(f"{url} did not load: {navigated['errorText']}")
        await _within(loaded, timeout_s, f"{url} did not finish loading")
        shown = await _wait_for_text(devtools, page, shows, timeout_s)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        image = await devtools.call(
            "Page.captureScreenshot", {"format": "png"}, session=page, timeout_s=timeout_s
        )
        screenshot.write_bytes(base64.b64decode(image["data"]))
        text = str(await _evaluate(devtools, page, "document.body ? document.body.innerText : ''"))
        if not shown:
            raise BrowserError(
                f"{url} did not show {' and '.join(map(repr, shows))} within {timeout_s:g} s "
                f"(screenshot: {screenshot}); it shows: {text[:300]!r}; its script errors: "
                f"{recorder.errors or 'none'}; its requests: "
                + ", ".join(map(str, recorder.requests))
            )
        await _within(recorder.quiet.wait(), timeout_s, f"{url} kept {recorder.still_open()} open")
        return PageVisit(url, tuple(recorder.requests), text, screenshot)
    finally:
        recorder.stop()
        with contextlib.suppress(BrowserError):
            await devtools.call("Target.closeTarget", {"targetId": target}, timeout_s=timeout_s)


@dataclass
class _Recorder:
    """The requests of one tab and of every frame and worker it starts (each is attached
    paused, watched, then let run, so not one of its requests is missed)."""

    devtools: DevTools
    timeout_s: float
    requests: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the page's uncaught script errors
    quiet: asyncio.Event = field(default_factory=asyncio.Event)
    _sessions: set[str] = field(default_factory=set)
    # Request id -> index in requests. Ids are the browser's, not a session's: a worker's script
    # is asked for by the page and finishes in the worker's session.
    _open: dict[str, int] = field(default_factory=dict)
    _loaded: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.quiet.set()
        self._handlers = {
            "Network.requestWillBeSent": self._request,
            "Network.webSocketCreated": self._websocket,
            "Network.loadingFinished": self._finished,
            "Network.loadingFailed": self._finished,
            "Page.loadEventFired": self._load_event,
            "Target.attachedToTarget": self._attached,
            "Runtime.exceptionThrown": self._exception,
        }
        for method, handler in self._handlers.items():
            self.devtools.on(method, handler)

    def stop(self) -> None:
        for method, handler in self._handlers.items():
            self.devtools.off(method, handler)
        for task in self._tasks:
            task.cancel()

    def still_open(self) -> str:
        return ", ".join(str(self.requests[index]) for index in self._open.values()) or "nothing"

    def page_loaded(self, session: str) -> asyncio.Future[None]:
        self._loaded[session] = asyncio.get_running_loop().create_future()
        return self._loaded[session]

    async def watch(self, session: str, *, page: bool) -> None:
        self._sessions.add(session)
        await self.devtools.call("Network.enable", session=session, timeout_s=self.timeout_s)
        await self.devtools.call("Runtime.enable", session=session, timeout_s=self.timeout_s)
        if page:
            await self.devtools.call("Page.enable", session=session, timeout_s=self.timeout_s)
        auto_attach = {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True}
        await self.devtools.call(
            "Target.setAutoAttach", auto_attach, session=session, timeout_s=self.timeout_s
        )

    def _attached(self, params: Json, parent: str | None) -> None:
        if parent not in self._sessions:
            return
        session, kind = params["sessionId"], params["targetInfo"]["type"]

        async def watch_then_run() -> None:
            # A worker that ends before it is watched takes its session along: nothing to record.
            with contextlib.suppress(BrowserError):
                await self.watch(session, page=kind in ("page", "iframe"))
            with contextlib.suppress(BrowserError):
                await self.devtools.call(
                    "Runtime.runIfWaitingForDebugger", session=session, timeout_s=self.timeout_s
                )

        task = asyncio.get_running_loop().create_task(watch_then_run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _request(self, params: Json, session: str | None) -> None:
        if session not in self._sessions:
            return
        self._open[params["requestId"]] = len(self.requests)
        self.requests.append(Request(params["request"]["url"], params.get("type", "Other")))
        self.quiet.clear()

    def _websocket(self, params: Json, session: str | None) -> None:
        if session in self._sessions:
            self.requests.append(Request(params["url"], "WebSocket"))

    def _finished(self, params: Json, session: str | None) -> None:
        index = self._open.pop(params["requestId"], None)
        if index is None:
            return
        if failure := params.get("errorText"):
            self.requests[index] = Request(
                self.requests[index].url, self.requests[index].kind, failure
            )
        if not self._open:
            self.quiet.set()

    def _exception(self, params: Json, session: str | None) -> None:
        if session in self._sessions:
            details = params["exceptionDetails"]
            thrown = details.get("exception", {}).get("description") or details.get("text", "")
            self.errors.append(
                f"{thrown.splitlines()[0] if thrown else '?'} ({details.get('url', '')})"
            )

    def _load_event(self, params: Json, session: str | None) -> None:
        loaded = self._loaded.get(session or "")
        if loaded is not None and not loaded.done():
            loaded.set_result(None)


async def _wait_for_text(
    devtools: DevTools, session: str, shows: tuple[str, ...], timeout_s: float
) -> bool:
    """Whether the page's rendered text contains all of `shows` within `timeout_s` s: a promise in
    the page that a MutationObserver resolves as soon as it does (no polling)."""
    script = f"""new Promise((resolve) => {{
      const wanted = {json.dumps(list(shows))};
      const shown = () => document.body !== null
        && wanted.every((text) => document.body.innerText.includes(text));
      if (shown()) {{ resolve(true); return; }}
      const observer = new MutationObserver(() => {{
        if (shown()) {{ observer.disconnect(); resolve(true); }}
      }});
      observer.observe(document, {{ subtree: true, childList: true, characterData: true }});
      setTimeout(() => {{ observer.disconnect(); resolve(shown()); }}, {int(timeout_s * 1000)});
    }})"""
    return await _evaluate(devtools, session, script, timeout_s=timeout_s + 5) is True


async def _evaluate(
    devtools: DevTools, session: str, expression: str, *, timeout_s: float = 30
) -> object:
    answer = await devtools.call(
        "Runtime.evaluate",
        {"expression": expression, "awaitPromise": True, "returnByValue": True},
        session=session,
        timeout_s=timeout_s,
    )
    if "exceptionDetails" in answer:
        raise BrowserError(f"the page's script failed: {answer['exceptionDetails']}")
    return answer["result"].get("value")


async def _within(waiting: Awaitable[object], timeout_s: float, failure: str) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            await waiting
    except TimeoutError:
        raise BrowserError(f"{failure} within {timeout_s:g} s") from None
