"""A trusted proxy's `X-Forwarded-For` and `X-Forwarded-Proto`, applied to a request's scope.

uvicorn applies them itself with `proxy_headers`, to every request: it parses the client's
address to check it against the trusted ones before it even looks for the headers, a few
microseconds a request. The chassis reads every header once anyway (`request_head`), so
`servicekit.server` turns uvicorn's off and the chassis runs the same middleware, with the same
rules, only for a request that carries one of the headers.
"""

from __future__ import annotations

from typing import Any, cast

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

__all__ = ["TRUSTED_PROXIES", "ForwardedHeaders"]

TRUSTED_PROXIES = "127.0.0.1"
"""Whose `X-Forwarded-*` a service believes: the gateway of a machine's stack, on loopback."""


class ForwardedHeaders:
    def __init__(self, trusted_proxies: str = TRUSTED_PROXIES) -> None:
        # uvicorn types its middleware with its own ASGI types; Starlette's are the same shapes.
        self._proxy_headers = cast(
            ASGIApp, ProxyHeadersMiddleware(cast(Any, _scope_set), trusted_hosts=trusted_proxies)
        )

    async def apply(self, scope: Scope) -> None:
        """Sets the scope's client and scheme from the headers, when its client is trusted."""
        await self._proxy_headers(scope, _nothing_received, _nothing_sent)


async def _scope_set(scope: Scope, receive: Receive, send: Send) -> None:
    """Where the middleware goes once it has set the scope: nowhere, the chassis goes on."""


async def _nothing_received() -> Message:
    raise RuntimeError("applying forwarded headers reads no body")


async def _nothing_sent(message: Message) -> None:
    raise RuntimeError("applying forwarded headers sends no response")
