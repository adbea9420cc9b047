"""Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`).

Why a pipe: it needs no port (nothing to collide with, nothing another process could reach) and
no client library — the protocol is JSON messages, each ended by a NUL byte, that the browser
reads on its fd 3 and writes on its fd 4. Sessions are "flat": a message for a page or a worker
carries its `sessionId`, so one pipe serves every target.

Every call is bounded: a browser that stops answering fails the call with a `BrowserError`
naming what was asked, never a hang; a browser that exits fails every pending call with the end
of its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from devstack.toolchain.catalog import SYSTEM_TOOLS

__all__ = ["BrowserError", "DevTools", "EventHandler", "Json", "launch"]

Json = dict[str, Any]
EventHandler = Callable[[Json, "str | None"], None]
"""Called with an event's params and the session it came from (None: the browser itself)."""

# A screenshot arrives as one base64 message of a few MB.
_MESSAGE_LIMIT = 64 * 1024 * 1024
# The browser's own chatter that would otherwise reach out: updates, metrics, sync, first-run
# pages. The host resolver rule below refuses any name but 127.0.0.1 whatever asks for it.
_QUIET = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--no-first-run",
    "--no-pings",
)


class BrowserError(RuntimeError):
    """The browser did not start, exited, refused a call or did not answer in time."""


class DevTools:
    """One browser's DevTools connection: `call` a method, `on` an event."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        reading: asyncio.BaseTransport,
        writer: asyncio.WriteTransport,
    ) -> None:
        self._reader = reader
        self._reading = reading
        self._writer = writer
        self._next_id = 0
        self._pending: dict[int, tuple[str, asyncio.Future[Json]]] = {}
        self._handlers: dict[str, list[EventHandler]] = {}
        self._closed: BrowserError | None = None
        self._task = asyncio.create_task(self._read_messages())

    def on(self, method: str, handler: EventHandler) -> None:
        self._handlers.setdefault(method, []).append(handler)

    def off(self, method: str, handler: EventHandler) -> None:
        self._handlers[method].remove(handler)

    async def call(
        self,
        method: str,
        params: Json | None = None,
        *,
        session: str | None = None,
        timeout_s: float,
    ) -> Json:
        """Send `method` and return its result; BrowserError on an error or after `timeout_s` s."""
        if self._closed is not None:
            raise self._closed
        self._next_id += 1
        message: Json = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        answer: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = (method, answer)
        self._writer.write(json.dumps(message).encode() + b"\0")
        try:
            async with asyncio.timeout(timeout_s):
                return await answer
        except TimeoutError:
            raise BrowserError(f"chromium did not answer {method} within {timeout_s:g} s") from None
        finally:
            self._pending.pop(message["id"], None)

    async def _read_messages(self) -> None:
        try:
            while True:
                raw = await self._reader.readuntil(b"\0")
                self._dispatch(json.loads(raw[:-1]))
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            self._close(BrowserError(f"chromium closed its DevTools pipe ({error})"))
        except Exception as error:  # a handler's bug must not leave callers waiting
            self._close(BrowserError(f"reading chromium's DevTools pipe failed: {error!r}"))

    def _dispatch(self, message: Json) -> None:
        if "id" in message:
            method, answer = self._pending.get(message["id"], ("", None))
            if answer is None or answer.done():
                return
            if "error" in message:
                answer.set_exception(BrowserError(f"{method}: {message['error']}"))
            else:
                answer.set_result(message.get("result", {}))
            return
        for handler in list(self._handlers.get(message.get("method", ""), [])):
            handler(message.get("params", {}), message.get("sessionId"))

    def _close(self, error: BrowserError) -> None:
        self._closed = error
        for _, answer in self._pending.values():
            if not answer.done():
                answer.set_exception(error)

    async def aclose(self) -> None:
        self._writer.close()
        self._reading.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def launch(
    chromium: Path | None = None, *, window: tuple[int, int] = (1280, 1000), timeout_s: float = 30
) -> AsyncIterator[DevTools]:
    """A headless Chromium that can resolve no name but 127.0.0.1 and uses no proxy: a page
    asking for any other host gets a failed request (which the protocol still reports).
    `chromium` defaults to the one devstack.toolchain installs (`make test` does)."""
    if chromium is None:
        chromium = SYSTEM_TOOLS["chromium"].locate()
        if chromium is None:
            raise BrowserError(f"chromium is missing: {SYSTEM_TOOLS['chromium'].fix}")
    with tempfile.TemporaryDirectory(prefix="flotilla-chromium-") as profile:
        log_path = Path(profile) / "chromium.log"
        argv = [
            str(chromium),
            "--headless=new",
            "--no-sandbox",  # tests run as root, which Chromium's sandbox refuses
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}/data",
            f"--window-size={window[0]},{window[1]}",
            # One argument, no shell: the quotes of the command-line form are not needed.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--no-proxy-server",
            *_QUIET,
            "about:blank",
        ]
        to_browser, from_browser = os.pipe(), os.pipe()
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                close_fds=False,  # the pipes must reach fds 3 and 4; ours are close-on-exec
                preexec_fn=_as_fds_3_and_4(to_browser[0], from_browser[1]),
            )
        finally:
            os.close(log)
        os.close(to_browser[0])
        os.close(from_browser[1])
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=_MESSAGE_LIMIT)
        reading, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(from_browser[0], "rb", 0)
        )
        writer, _ = await loop.connect_write_pipe(
            asyncio.BaseProtocol, os.fdopen(to_browser[1], "wb", 0)
        )
        devtools = DevTools(reader, reading, writer)
        try:
            try:
                await devtools.call("Browser.getVersion", timeout_s=timeout_s)
            except BrowserError as error:
                raise BrowserError(f"{error}; its log:\n{_tail(log_path)}") from None
            yield devtools
        finally:
            with contextlib.suppress(BrowserError):
                await devtools.call("Browser.close", timeout_s=10)
            await devtools.aclose()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()


def _as_fds_3_and_4(read_end: int, write_end: int) -> Callable[[], None]:
    """Run in the child before exec: the browser reads fd 3 and writes fd 4. Both ends are
    first copied above 10 so that one landing on 3 or 4 is not overwritten by the other."""

    def move() -> None:
        high_read = fcntl.fcntl(read_end, fcntl.F_DUPFD_CLOEXEC, 10)
        high_write = fcntl.fcntl(write_end, fcntl.F_DUPFD_CLOEXEC, 10)
        os.dup2(high_read, 3)  # dup2 clears close-on-exec: these two survive the exec
        os.dup2(high_write, 4)

    return move


def _tail(log_path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
