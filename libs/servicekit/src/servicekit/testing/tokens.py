"""A service's routes in its own tests, behind tokens as identity issues them.

The app trusts a key ring of the tests' own (no identity to run, no JWKS to fetch), is called
in-process through an ASGI transport, and `bearer` signs the Authorization header a user of
identity would send.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from servicekit.auth.dependencies import install_token_verifier
from servicekit.auth.jwks import LocalKeySource
from servicekit.auth.keys import KeyRing, load_key_ring, write_new_signing_key
from servicekit.auth.tokens import TokenVerifier, issue_access_token
from servicekit.ids import new_id

__all__ = ["AUDIENCE", "ISSUER", "bearer", "in_process_client", "new_key_ring"]

ISSUER = "flotilla-identity"
AUDIENCE = "flotilla"


def new_key_ring(folder: Path) -> KeyRing:
    """A fresh signing key in `folder`, loaded."""
    write_new_signing_key(folder, "key.pem")
    return load_key_ring(folder)


def in_process_client(app: FastAPI, key_ring: KeyRing, base_url: str) -> httpx.AsyncClient:
    """A client of `app` in-process (without its lifespan), which trusts `key_ring`'s tokens."""
    install_token_verifier(
        app, TokenVerifier(LocalKeySource(key_ring), issuer=ISSUER, audience=AUDIENCE)
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


def bearer(key_ring: KeyRing, **token: Any) -> dict[str, str]:
    """The Authorization header of a 5-minute token; `token` overrides `issue_access_token`'s
    arguments (`subject` defaults to a new user, `roles`, `extra_claims`, ...)."""
    options: dict[str, Any] = {
        "subject": new_id("usr"),
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "ttl_s": 300,
        **token,
    }
    return {"authorization": f"Bearer {issue_access_token(key_ring, **options)}"}
