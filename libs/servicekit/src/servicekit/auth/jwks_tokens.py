"""How a service other than identity verifies identity's tokens: one object to wire.

    tokens = JwksTokens(settings.jwks_url, issuer=settings.jwt_issuer, audience=...)
    app = create_app(settings, ..., lifespan_hooks=[..., tokens.lifespan])
    tokens.install(app)

It owns the HTTP client the JWKS is fetched with (keys cached by kid, see `JwksKeySource`)
and closes it when the app stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from servicekit.auth.dependencies import install_token_verifier
from servicekit.auth.jwks import JwksKeySource
from servicekit.auth.tokens import TokenVerifier

__all__ = ["JwksTokens"]


class JwksTokens:
    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        fetch_timeout_s: float = 5.0,
        max_key_age_s: float = 3_600.0,
    ) -> None:
        self._client = httpx.AsyncClient(timeout=fetch_timeout_s)
        self.verifier = TokenVerifier(
            JwksKeySource(jwks_url, self._client, max_age_s=max_key_age_s),
            issuer=issuer,
            audience=audience,
        )

    def install(self, app: FastAPI) -> None:
        install_token_verifier(app, self.verifier)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self._client.aclose()
