"""The settings of access tokens, to mix into a service's settings: whose tokens they are
(`TokenClaimSettings`: identity writes these claims, every other service requires them) and
where a verifying service reads identity's public keys (`JwksSettings`, what `tokens = "jwks"`
in service.toml asks for)."""

from __future__ import annotations

from pydantic_settings import BaseSettings

__all__ = ["JwksSettings", "TokenClaimSettings"]


class TokenClaimSettings(BaseSettings):
    jwt_issuer: str = "flotilla-identity"
    """A token's `iss`: who signed it."""
    jwt_audience: str = "flotilla"
    """A token's `aud`: the services it is good for."""


class JwksSettings(TokenClaimSettings):
    jwks_url: str
    """identity's public keys, e.g. http://identity:8000/.well-known/jwks.json."""
