"""Where the shop's generated clients (`clients.<service>`) send their requests: through the
httpx clients the Shop was given, so that what the caller chose for them — the gateway's or
psp's address, a timeout, default headers such as a request id or the merchant's key, the
connection pool — holds for every call, and the caller still owns and closes them.

A generated client builds its own `httpx.AsyncClient` from a base URL and `httpx_args`; here its
base URL is the service's (the gateway's URL with the service's prefix, the operations' paths
being the service's own; psp's own address) and its transport is `Through`, which hands each
request to the caller's client. Building one costs a fraction of a millisecond (no connection
pool, no TLS context of its own), so a Shop makes one per call, with the caller's token.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["Reach", "Through"]


class Through(httpx.AsyncBaseTransport):
    """Sends each request through `http`: its default headers under the request's own (a
    request's Authorization replaces a default one), its timeout, its connections."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        forwarded = self._http.build_request(
            request.method, request.url, headers=request.headers, content=await request.aread()
        )
        # Streamed: the generated client's own httpx client reads (and decodes) the body.
        return await self._http.send(forwarded, stream=True)

    async def aclose(self) -> None:
        """Nothing: the caller's client is the caller's to close."""


class Reach:
    """The keyword arguments of a generated `Client` or `AuthenticatedClient` for a service."""

    def __init__(self, gateway: httpx.AsyncClient, provider: httpx.AsyncClient | None) -> None:
        self._gateway_url = str(gateway.base_url).rstrip("/")
        self._gateway = Through(gateway)
        self._provider = provider

    def public(self, service: str) -> dict[str, Any]:
        """A service behind the gateway, which prefixes its routes with `/<service>`."""
        return {
            "base_url": f"{self._gateway_url}/{service}",
            "httpx_args": {"transport": self._gateway, "trust_env": False},
        }

    def provider(self, token: str | None = None) -> dict[str, Any]:
        """psp, internal, at its own address; as the merchant (the provider client's own
        Authorization) unless a `token` is given (an administrator's, for the fault knobs)."""
        if self._provider is None:
            raise RuntimeError("this Shop was made without a provider client (psp is internal)")
        where = {
            "base_url": str(self._provider.base_url).rstrip("/"),
            "httpx_args": {"transport": Through(self._provider), "trust_env": False},
        }
        if token is None:  # the merchant's key, as the provider client sends it by default
            return {**where, "token": self._provider.headers.get("authorization", ""), "prefix": ""}
        return {**where, "token": token}
