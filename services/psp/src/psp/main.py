"""psp's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from psp.accounts import MerchantKeys, install_merchant_keys
from psp.api import admin_router, router
from psp.refunds_api import refunds_router
from psp.settings import PspSettings
from servicekit import ServiceApi, create_app
from servicekit.auth import JwksTokens

__all__ = ["API", "build_app"]

API = ServiceApi(
    title="Flotilla psp",
    description=(
        "A payment provider simulator with a Stripe-like API: charges with the provider's "
        "own idempotency keys, full refunds, and admin knobs for latency, errors, declines, "
        "outages and lost answers."
    ),
    routers=(router, refunds_router, admin_router),
)


def build_app(settings: PspSettings, span_processors: Sequence[SpanProcessor] = ()) -> FastAPI:
    tokens = JwksTokens(
        settings.jwks_url, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    app = create_app(
        settings,
        api=API,
        lifespan_hooks=[tokens.lifespan],
        span_processors=span_processors,
    )
    tokens.install(app)
    install_merchant_keys(app, MerchantKeys(settings.api_keys))
    return app
