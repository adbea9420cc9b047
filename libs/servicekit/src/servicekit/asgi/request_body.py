"""The request body's guards, applied as it is received: its size (413 past the service's
`max_body_bytes`, whether announced or streamed) and NUL characters (`servicekit.asgi.nul_bytes`).

Both raise HTTPExceptions from `receive`, so FastAPI's body parsing re-raises them to the
problem handlers instead of making them a 400; a route that reads the body itself gets the
same exception, which the chassis answers.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive

from servicekit.asgi.nul_bytes import NulCharacter, has_nul
from servicekit.observability.metrics import HTTP_REQUESTS_REJECTED

__all__ = ["BodyTooLarge", "GuardedBody"]


class BodyTooLarge(HTTPException):
    slug = "body-too-large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body exceeds {max_bytes} bytes.")


class GuardedBody:
    """A `receive` that counts the body's bytes and scans it whole once complete (the size
    limit bounds it), so that a NUL escape split across two chunks is still found. Each refusal
    raised is counted in `flotilla_http_requests_rejected_total` by its reason."""

    __slots__ = ("_chunks", "_max_bytes", "_receive", "_received")

    def __init__(self, receive: Receive, max_bytes: int) -> None:
        self._receive = receive
        self._max_bytes = max_bytes
        self._received = 0
        self._chunks: list[bytes] = []

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            chunk: bytes = message.get("body", b"")
            self._received += len(chunk)
            if self._received > self._max_bytes:
                HTTP_REQUESTS_REJECTED.labels("body_too_large").inc()
                raise BodyTooLarge(self._max_bytes)
            self._chunks.append(chunk)
            if not message.get("more_body", False) and has_nul(b"".join(self._chunks)):
                HTTP_REQUESTS_REJECTED.labels("nul_character").inc()
                raise NulCharacter
        return message
