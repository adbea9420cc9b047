"""Public keys fetched from the issuer's JWKS and cached by `kid`.

A known kid is served from the cache. An unknown kid (the issuer rotated) triggers a refetch,
at most once per `min_refresh_interval_s`, so forged kids cannot make us hammer the issuer.
The whole set is refreshed after `ttl_s` so retired keys eventually stop verifying.

While the issuer cannot be reached the keys we have keep verifying, but only for `max_age_s`
after they were last fetched: past that hard limit every token is refused (a 401) until a
refresh succeeds. Otherwise a key the issuer has retired, perhaps because it leaked, would
verify forever in a service cut off from the issuer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

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
        max_age_s: float = 3_600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_age_s < ttl_s:
            raise ValueError("max_age_s must be at least ttl_s")
        self._url = url
        self._client = client
        self._ttl_s = ttl_s
        self._min_refresh_interval_s = min_refresh_interval_s
        self._max_age_s = max_age_s
        self._clock = clock
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at = float("-inf")  # the last attempt (backdated when it failed)
        self._verified_at = float("-inf")  # the last successful fetch
        self._lock = asyncio.Lock()

    async def public_key(self, kid: str) -> Ed25519PublicKey | None:
        now = self._clock()
        stale = now - self._fetched_at > self._ttl_s
        if kid in self._keys and not stale:
            return self._keys[kid]
        async with self._lock:
            if (kid not in self._keys or stale) and (
                self._clock() - self._fetched_at >= self._min_refresh_interval_s or stale
            ):
                await self._refresh()
        if self._clock() - self._verified_at > self._max_age_s:
            return None  # the keys outlived their hard limit: no token verifies
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            response = await self._client.get(self._url, timeout=2.0)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            # Keep serving the keys we have; the issuer may be briefly unavailable.
            log.warning("jwks fetch failed", extra={"url": self._url, "error": str(error)})
            self._fetched_at = self._clock() - self._ttl_s + self._min_refresh_interval_s
            if self._keys and self._clock() - self._verified_at > self._max_age_s:
                log.error(
                    "jwks keys older than their hard limit: refusing every token",
                    extra={"url": self._url, "max_age_s": self._max_age_s},
                )
            return
        keys: dict[str, Ed25519PublicKey] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            try:
                if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
                    keys[jwk["kid"]] = jwk_to_public_key(jwk)
            except ValueError:
                continue
        self._keys = keys
        self._fetched_at = self._verified_at = self._clock()
