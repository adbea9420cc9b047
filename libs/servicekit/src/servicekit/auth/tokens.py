"""Access tokens: EdDSA-signed JWTs with a `kid`, verified against a key source."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from servicekit.auth.keys import KeyRing

__all__ = ["InvalidToken", "KeySource", "Principal", "TokenVerifier", "issue_access_token"]

ALGORITHM = "EdDSA"


class InvalidToken(Exception):
    """The token is malformed, expired, forged or from another issuer; the message says which."""


class KeySource(Protocol):
    async def public_key(self, kid: str) -> Ed25519PublicKey | None: ...


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    claims: dict[str, Any]

    def has_role(self, role: str) -> bool:
        return role in self.roles


def issue_access_token(
    ring: KeyRing,
    *,
    subject: str,
    issuer: str,
    audience: str,
    ttl_s: int,
    roles: Sequence[str] = (),
    extra_claims: dict[str, Any] | None = None,
) -> str:
    now = int(time.time())
    claims = {
        **(extra_claims or {}),
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
        "roles": list(roles),
    }
    return jwt.encode(
        claims, ring.active.private_key, algorithm=ALGORITHM, headers={"kid": ring.active.kid}
    )


class TokenVerifier:
    def __init__(self, keys: KeySource, *, issuer: str, audience: str, leeway_s: int = 30) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken("malformed token") from error
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            raise InvalidToken("unsupported token algorithm or missing kid")
        key = await self._keys.public_key(kid)
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway_s,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise InvalidToken("token expired") from error
        except jwt.PyJWTError as error:
            raise InvalidToken("invalid token") from error
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise InvalidToken("invalid roles claim")
        return Principal(subject=str(claims["sub"]), roles=frozenset(roles), claims=claims)
