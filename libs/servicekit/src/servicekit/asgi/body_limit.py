"""Refuse request bodies over the limit with 413, whether announced or streamed."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.asgi.tracked_send import TrackedSend
from servicekit.errors import send_problem
from servicekit.observability.metrics import HTTP_REQUESTS_REJECTED

__all__ = ["BodySizeLimit"]


class _BodyTooLarge(HTTPException):
    """An HTTPException, so that FastAPI's body parsing re-raises it instead of making a 400;
    the problem handler reads its `slug`."""

    slug = "body-too-large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body exceeds {max_bytes} bytes.")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            HTTP_REQUESTS_REJECTED.labels("body_too_large").inc()
            await self._refuse(send)
            return
        received = 0
        tracked = TrackedSend(send)

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, counting_receive, tracked)
        except _BodyTooLarge:
            # Reached when the app read the body outside FastAPI's own parsing.
            if tracked.started:
                raise
            await self._refuse(send)
        if received > self.max_bytes:
            HTTP_REQUESTS_REJECTED.labels("body_too_large").inc()

    async def _refuse(self, send: Send) -> None:
        await send_problem(
            send, 413, f"The request body exceeds {self.max_bytes} bytes.", slug="body-too-large"
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
