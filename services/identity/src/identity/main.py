"""identity's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from identity.api import router
from identity.domain import LoginThrottle
from identity.handlers import TokenPolicy
from identity.passwords import Passwords
from identity.settings import IdentitySettings
from servicekit.app import create_app
from servicekit.auth.dependencies import install_token_verifier
from servicekit.auth.jwks import LocalKeySource
from servicekit.auth.keys import load_key_ring
from servicekit.auth.tokens import TokenVerifier
from servicekit.db.engine import Database
from servicekit.events.publishing import Publishing
from servicekit.openapi import ServiceApi

__all__ = ["API", "build_app"]

API = ServiceApi(
    title="Flotilla identity",
    description="Users, credentials and the keys that sign access tokens.",
    routers=(router,),
)


def build_app(settings: IdentitySettings, span_processors: Sequence[SpanProcessor] = ()) -> FastAPI:
    key_ring = load_key_ring(settings.jwt_keys_dir, settings.jwt_active_key)
    database = Database.from_settings(settings)
    publishing = Publishing.for_service(settings, database)
    app = create_app(
        settings,
        api=API,
        database=database,
        lifespan_hooks=[publishing.relay.lifespan],
        span_processors=span_processors,
    )
    publishing.install(app)
    app.state.key_ring = key_ring
    app.state.passwords = Passwords(
        memory_budget_kib=settings.password_hash_memory_budget_mib * 1024,
        wait_s=settings.password_hash_wait_s,
    )
    app.state.login_throttle = LoginThrottle(
        free_attempts=settings.login_free_attempts,
        base_delay_s=settings.login_backoff_base_s,
        max_delay_s=settings.login_backoff_max_s,
        window_s=settings.login_failure_window_s,
    )
    app.state.token_policy = TokenPolicy(
        settings.jwt_issuer, settings.jwt_audience, settings.access_token_ttl_s
    )
    install_token_verifier(
        app,
        TokenVerifier(
            LocalKeySource(key_ring), issuer=settings.jwt_issuer, audience=settings.jwt_audience
        ),
    )
    return app
