"""psp's composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from psp.api import admin_router, router
from psp.settings import PspSettings
from servicekit.app import LifespanHook, create_app
from servicekit.auth.dependencies import install_token_verifier
from servicekit.auth.jwks import JwksKeySource
from servicekit.auth.tokens import TokenVerifier

__all__ = ["build_app"]


def build_app(settings: PspSettings, span_processors: Sequence[SpanProcessor] = ()) -> FastAPI:
    jwks_client = httpx.AsyncClient(timeout=5.0)
    app = create_app(
        settings,
        routers=[router, admin_router],
        lifespan_hooks=[_closing(jwks_client)],
        span_processors=span_processors,
        title="Flotilla psp",
        description=(
            "A payment provider simulator with a Stripe-like API: charges with the provider's "
            "own idempotency keys, and admin knobs for latency, errors, declines and outages."
        ),
    )
    install_token_verifier(
        app,
        TokenVerifier(
            JwksKeySource(settings.jwks_url, jwks_client),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        ),
    )
    return app


def _closing(client: httpx.AsyncClient) -> LifespanHook:
    @asynccontextmanager
    async def close_on_shutdown(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    return close_on_shutdown
