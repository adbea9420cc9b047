"""identity's wiring (service.toml's `wiring`): what its routes find on `app.state`, and the
token verifier. identity issues the tokens, so it verifies them with its own key ring rather
than over JWKS like every other service (`tokens = "none"` in its manifest)."""

from __future__ import annotations

from fastapi import FastAPI

from identity.domain import LoginThrottle
from identity.handlers import TokenPolicy
from identity.passwords import Passwords
from identity.settings import IdentitySettings
from servicekit import ServiceContext
from servicekit.auth import LocalKeySource, TokenVerifier, install_token_verifier, load_key_ring

__all__ = ["wire"]


def wire(context: ServiceContext[IdentitySettings], app: FastAPI) -> None:
    settings = context.settings
    key_ring = load_key_ring(settings.jwt_keys_dir, settings.jwt_active_key)
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
