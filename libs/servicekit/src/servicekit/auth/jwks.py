"""Public keys fetched from the issuer's JWKS and cached by `kid`.

A known kid is served from the cache. An unknown kid (the issuer rotated) triggers a refetch,
at most once per `min_refresh_interval_s`, so forged kids cannot make us hammer the issuer.
The whole set is refreshed after `ttl_s` so retired keys eventually stop verifying.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from servicekit.auth.keys import KeyRing, jwk_to_public_key

__all__ = ["JwksKeySource", "LocalKeySource"]

log = logging.getLogger(__name__)


class LocalKeySource:
    """The issuer's own keys, for the issuer itself (identity)."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring

    async def public_key(self, kid: str) -> Ed25519PublicKey | None:
        return self._ring.public_key(kid)


class JwksKeySource:
    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        ttl_s: float = 300.0,
        min_refresh_interval_s: float = 10.0,
    ) -> None:
        self._url = url
        self._client = client
        self._ttl_s = ttl_s
        self._min_refresh_interval_s = min_refresh_interval_s
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def public_key(self, kid: str) -> Ed25519PublicKey | None:
        now = time.monotonic()
        stale = now - self._fetched_at > self._ttl_s
        if kid in self._keys and not stale:
            return self._keys[kid]
        async with self._lock:
            if (kid not in self._keys or stale) and (
                time.monotonic() - self._fetched_at >= self._min_refresh_interval_s or stale
            ):
                await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            response = await self._client.get(self._url, timeout=2.0)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            # Keep serving the keys we have; the issuer may be briefly unavailable.
            log.warning("jwks fetch failed", extra={"url": self._url, "error": str(error)})
            self._fetched_at = time.monotonic() - self._ttl_s + self._min_refresh_interval_s
            return
        keys: dict[str, Ed25519PublicKey] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            try:
                if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
                    keys[jwk["kid"]] = jwk_to_public_key(jwk)
            except ValueError:
                continue
        self._keys = keys
        self._fetched_at = time.monotonic()
