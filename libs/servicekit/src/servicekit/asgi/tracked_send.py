"""An ASGI `send` that remembers whether the response has started.

A middleware that catches an error from the app (a body too large, a NUL character, a
deadline) may answer with its own problem only while nothing was sent yet; after that, the
error must propagate and the connection is cut.
"""

from __future__ import annotations

from starlette.types import Message, Send

__all__ = ["TrackedSend"]


class TrackedSend:
    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)
