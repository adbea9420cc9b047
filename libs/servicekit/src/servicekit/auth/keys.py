"""Ed25519 signing keys and their public JWKs, identified by RFC 7638 thumbprints."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "KeyRing",
    "SigningKey",
    "jwk_to_public_key",
    "load_key_ring",
    "public_jwk",
    "write_new_signing_key",
]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    thumbprint = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode())
    return {**members, "kid": _b64url(thumbprint.digest()), "alg": "EdDSA", "use": "sig"}


def jwk_to_public_key(jwk: dict[str, Any]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise ValueError("not an Ed25519 public JWK")
    return Ed25519PublicKey.from_public_bytes(_b64url_decode(jwk["x"]))


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey

    @property
    def public_jwk(self) -> dict[str, str]:
        return public_jwk(self.private_key.public_key())


@dataclass(frozen=True)
class KeyRing:
    """The active key signs; every key (active or retiring) verifies and is published."""

    active: SigningKey
    keys: tuple[SigningKey, ...]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.public_jwk for key in self.keys]}

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key.private_key.public_key()
        return None


def load_key_ring(folder: Path, active_name: str | None = None) -> KeyRing:
    """Load every `*.pem` Ed25519 private key in `folder` (a mounted Secret, say).

    The active key is the file named `active_name`, else the last by name — so rotating is:
    add `key-<newer date>.pem`, keep the old file until issued tokens have expired, remove it.
    """
    files = sorted(path for path in folder.glob("*.pem") if path.is_file())
    if not files:
        raise ValueError(f"no *.pem signing keys in {folder}")
    keys: list[SigningKey] = []
    active: SigningKey | None = None
    for path in files:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{path.name} is not an Ed25519 private key")
        key = SigningKey(public_jwk(loaded.public_key())["kid"], loaded)
        keys.append(key)
        if active_name in (path.name, path.stem):
            active = key
    if active_name and active is None:
        raise ValueError(f"active signing key {active_name!r} not found in {folder}")
    return KeyRing(active=active or keys[-1], keys=tuple(keys))


def write_new_signing_key(folder: Path, name: str) -> Path:
    """Generate an Ed25519 key as a PKCS8 PEM file readable only by its owner."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600, exist_ok=False)
    path.write_bytes(pem)
    return path
