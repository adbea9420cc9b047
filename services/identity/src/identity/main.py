"""identity's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from identity.api import router
from identity.handlers import TokenPolicy
from identity.passwords import Passwords
from identity.settings import IdentitySettings
from servicekit.app import create_app
from servicekit.auth.dependencies import install_token_verifier
from servicekit.auth.jwks import LocalKeySource
from servicekit.auth.keys import load_key_ring
from servicekit.auth.tokens import TokenVerifier

__all__ = ["build_app"]


def build_app(settings: IdentitySettings) -> FastAPI:
    key_ring = load_key_ring(settings.jwt_keys_dir, settings.jwt_active_key)
    app = create_app(
        settings,
        routers=[router],
        title="Flotilla identity",
        description="Users, credentials and the keys that sign access tokens.",
    )
    app.state.key_ring = key_ring
    app.state.passwords = Passwords()
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
