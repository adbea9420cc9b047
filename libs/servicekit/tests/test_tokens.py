"""Access tokens: signed by identity's active key, verified anywhere through the JWKS."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from servicekit.auth.jwks import JwksKeySource
from servicekit.auth.keys import KeyRing, load_key_ring
from servicekit.auth.tokens import InvalidToken, TokenVerifier, issue_access_token

pytestmark = pytest.mark.unit


def _write_key(folder: Path, name: str) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (folder / name).write_bytes(pem)


def _token(ring: KeyRing, ttl_s: int = 300, audience: str = "flotilla") -> str:
    return issue_access_token(
        ring, subject="usr_x", issuer="idp", audience=audience, ttl_s=ttl_s, roles=["admin"]
    )


class _JwksServer:
    """The issuer's JWKS endpoint, served in-process; counts fetches."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self.fetches = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        return httpx.Response(200, json=self.ring.jwks())


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    _write_key(tmp_path, "key-20260101.pem")
    return tmp_path


async def test_a_token_verifies_through_the_jwks_and_carries_roles(keys_dir: Path) -> None:
    ring = load_key_ring(keys_dir)
    server = _JwksServer(ring)
    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handle)) as http:
        verifier = TokenVerifier(
            JwksKeySource("http://idp/jwks", http), issuer="idp", audience="flotilla"
        )
        principal = await verifier.verify(_token(ring))
        await verifier.verify(_token(ring))
    assert principal.subject == "usr_x"
    assert principal.has_role("admin")
    assert server.fetches == 1  # cached by kid


async def test_rotation_to_a_new_key_is_picked_up_by_kid(keys_dir: Path) -> None:
    old_ring = load_key_ring(keys_dir)
    server = _JwksServer(old_ring)
    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handle)) as http:
        source = JwksKeySource("http://idp/jwks", http, min_refresh_interval_s=0)
        verifier = TokenVerifier(source, issuer="idp", audience="flotilla")
        await verifier.verify(_token(old_ring))
        _write_key(keys_dir, "key-20270101.pem")
        new_ring = load_key_ring(keys_dir)
        server.ring = new_ring
        assert new_ring.active.kid != old_ring.active.kid
        assert (await verifier.verify(_token(new_ring))).subject == "usr_x"
        assert (await verifier.verify(_token(old_ring))).subject == "usr_x"  # still published


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda ring: _token(ring, ttl_s=-120), "expired"),
        (lambda ring: _token(ring, audience="elsewhere"), "invalid"),
        (lambda ring: _token(ring)[:-4] + "AAAA", "invalid"),
        (lambda ring: "not-a-jwt", "malformed"),
    ],
)
async def test_bad_tokens_are_refused_with_a_reason(keys_dir: Path, mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    ring = load_key_ring(keys_dir)
    server = _JwksServer(ring)
    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handle)) as http:
        verifier = TokenVerifier(
            JwksKeySource("http://idp/jwks", http), issuer="idp", audience="flotilla"
        )
        with pytest.raises(InvalidToken, match=reason):
            await verifier.verify(mutate(ring))


async def test_a_token_from_an_unknown_key_is_refused_without_hammering_the_issuer(
    keys_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ring = load_key_ring(keys_dir)
    stranger_dir = tmp_path_factory.mktemp("stranger")
    _write_key(stranger_dir, "key.pem")
    forged = _token(load_key_ring(stranger_dir))
    server = _JwksServer(ring)
    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handle)) as http:
        verifier = TokenVerifier(
            JwksKeySource("http://idp/jwks", http), issuer="idp", audience="flotilla"
        )
        for _ in range(20):
            with pytest.raises(InvalidToken, match="unknown signing key"):
                await verifier.verify(forged)
    assert server.fetches == 1
