"""Refuse a NUL character anywhere in a request's query, path or body with a 422 problem.

Postgres cannot store U+0000 in text (`invalid byte sequence for encoding "UTF8": 0x00`), so a
NUL that reaches a query parameter is an unhandled database error — a 500 whose log line used
to carry the statement's other parameters (emails, password hashes). No Flotilla field has a
use for it, so the chassis refuses it at the door, for every route of every service, before
any handler or validator runs.

The body is scanned for a raw NUL byte and for the JSON escape `\\u0000` (an odd run of
backslashes before `u0000`: `\\\\u0000` is a backslash followed by the text `u0000`). The
scan happens as the body is received; the last chunk raises, so the body is never parsed.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.asgi.tracked_send import TrackedSend
from servicekit.errors import send_problem
from servicekit.observability.metrics import HTTP_REQUESTS_REJECTED

__all__ = ["NUL_DETAIL", "NUL_SLUG", "RefuseNulCharacters"]

NUL_SLUG = "nul-character"
NUL_DETAIL = "The request contains a NUL character (U+0000), which no field accepts."

_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
_QUERY_NUL = re.compile(rb"%00|\x00")


class NulCharacter(HTTPException):
    """An HTTPException, so that FastAPI's body parsing re-raises it instead of making a 400."""

    slug = NUL_SLUG

    def __init__(self) -> None:
        super().__init__(422, NUL_DETAIL)


class RefuseNulCharacters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _QUERY_NUL.search(scope.get("query_string", b"")) or "\x00" in scope["path"]:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        tracked = TrackedSend(send)

        async def scanning_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                # Scanned whole once complete (BodySizeLimit bounds it), so that an escape
                # split across two chunks is still found.
                if not message.get("more_body", False) and _has_nul(b"".join(chunks)):
                    raise NulCharacter
            return message

        try:
            await self.app(scope, scanning_receive, tracked)
        except NulCharacter:
            # Reached when the app read the body outside FastAPI's own parsing.
            if tracked.started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        HTTP_REQUESTS_REJECTED.labels("nul_character").inc()
        await send_problem(send, 422, NUL_DETAIL, slug=NUL_SLUG)


def _has_nul(body: bytes) -> bool:
    return b"\x00" in body or _ESCAPED_NUL.search(body) is not None
