"""Secrets a local stack generates once and keeps: passwords, API keys and identity's signing
keys, and the per-service folders of secret files the services read (their SECRETS_DIR)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["SecretStore"]


class SecretStore:
    """Secrets generated once per profile, one 0600 file each, in a 0700 folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, name: str, generate: Callable[[], str] | None = None) -> str:
        """The secret `name`, generated on first use by `generate` (default: 32 random URL-safe
        characters); safe against concurrent `up`s."""
        path = self.directory / name
        if not path.exists():
            self._ensure_directory()
            temporary = self.directory / f".{name}.{secrets.token_hex(4)}"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write((generate or _password)() + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)  # atomic: never overwrites a secret in use
            temporary.unlink()
        return path.read_text().strip()

    def path(self, name: str) -> Path:
        """The file holding the secret `name` (generated on first use), for a process that
        reads its secret from a file rather than its environment."""
        self.get(name)
        return self.directory / name

    def exists(self, name: str) -> bool:
        return (self.directory / name).exists()

    def jwt_keys_dir(self) -> Path:
        """Identity's signing keys (Ed25519, PKCS8 PEM); one is generated if there is none."""
        folder = self.directory / "jwt"
        if not any(folder.glob("*.pem")):
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            self._ensure_directory()
            folder.mkdir(mode=0o700, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            path = folder / f"key-{datetime.now(UTC):%Y%m%d}.pem"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
        return folder

    def service_dir(self, service: str, files: Mapping[str, str]) -> Path:
        """The folder of `service`'s secret files (`setting name → value`), its SECRETS_DIR;
        files are rewritten when their value changed (0600 in a 0700 folder)."""
        folder = self.directory / "services" / service
        self._ensure_directory()
        folder.parent.mkdir(mode=0o700, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        for setting, value in files.items():
            path = folder / setting
            if path.exists() and path.read_text() == value:
                continue
            temporary = folder / f".{setting}.{secrets.token_hex(4)}"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(value)
            temporary.replace(path)
        return folder

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)


def _password() -> str:
    return secrets.token_urlsafe(24)
