"""Access tokens: identity signs them (`KeyRing`, `issue_access_token`), every other service
verifies them against identity's JWKS (`JwksTokens`) and reads the caller from a route's
`CurrentPrincipal` / `AdminPrincipal` parameter."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servicekit.auth.dependencies import (
        AdminPrincipal,
        CurrentPrincipal,
        install_token_verifier,
    )
    from servicekit.auth.jwks import LocalKeySource
    from servicekit.auth.jwks_tokens import JwksTokens
    from servicekit.auth.keys import KeyRing, load_key_ring, write_new_signing_key
    from servicekit.auth.settings import JwksSettings, TokenClaimSettings
    from servicekit.auth.tokens import Principal, TokenVerifier, issue_access_token

__all__ = [
    "AdminPrincipal",
    "CurrentPrincipal",
    "JwksSettings",
    "JwksTokens",
    "KeyRing",
    "LocalKeySource",
    "Principal",
    "TokenClaimSettings",
    "TokenVerifier",
    "install_token_verifier",
    "issue_access_token",
    "load_key_ring",
    "write_new_signing_key",
]

if not TYPE_CHECKING:
    from servicekit._exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "servicekit.auth.dependencies": [
                "AdminPrincipal",
                "CurrentPrincipal",
                "install_token_verifier",
            ],
            "servicekit.auth.jwks": ["LocalKeySource"],
            "servicekit.auth.jwks_tokens": ["JwksTokens"],
            "servicekit.auth.keys": ["KeyRing", "load_key_ring", "write_new_signing_key"],
            "servicekit.auth.settings": ["JwksSettings", "TokenClaimSettings"],
            "servicekit.auth.tokens": ["Principal", "TokenVerifier", "issue_access_token"],
        },
    )
