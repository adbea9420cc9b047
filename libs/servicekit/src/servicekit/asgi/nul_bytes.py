"""NUL characters (U+0000), refused anywhere in a request's query, path or body with a 422.

Postgres cannot store U+0000 in text (`invalid byte sequence for encoding "UTF8": 0x00`), so a
NUL that reaches a query parameter is an unhandled database error — a 500 whose log line used
to carry the statement's other parameters (emails, password hashes). No Flotilla field has a
use for it, so the chassis (`servicekit.asgi.chassis`) refuses it at the door, for every route
of every service, before any handler or validator runs.

The body is scanned for a raw NUL byte and for the JSON escape `\\u0000` (an odd run of
backslashes before `u0000`: `\\\\u0000` is a backslash followed by the text `u0000`), whole
once received (`servicekit.asgi.request_body`), so the body is never parsed.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import Scope

__all__ = ["NUL_DETAIL", "NUL_SLUG", "NulCharacter", "has_nul", "nul_in_target"]

NUL_SLUG = "nul-character"
NUL_DETAIL = "The request contains a NUL character (U+0000), which no field accepts."

_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
_QUERY_NUL = re.compile(rb"%00|\x00")


class NulCharacter(HTTPException):
    """An HTTPException, so that FastAPI's body parsing re-raises it instead of making a 400;
    the problem handler reads its `slug`."""

    slug = NUL_SLUG

    def __init__(self) -> None:
        super().__init__(422, NUL_DETAIL)


def nul_in_target(scope: Scope) -> bool:
    """A NUL in the path or the query string, raw or percent-encoded."""
    return "\x00" in scope["path"] or _QUERY_NUL.search(scope.get("query_string", b"")) is not None


def has_nul(body: bytes) -> bool:
    return b"\x00" in body or _ESCAPED_NUL.search(body) is not None
