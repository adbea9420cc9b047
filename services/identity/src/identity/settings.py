from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from servicekit import ServiceSettings
from servicekit.auth import TokenClaimSettings

__all__ = ["IdentitySettings"]


class IdentitySettings(ServiceSettings, TokenClaimSettings):
    service_name: str = "identity"
    db_schema: str = "identity"

    jwt_keys_dir: Path
    """A folder of Ed25519 private keys (PKCS8 PEM), e.g. a mounted Secret."""
    jwt_active_key: str | None = None
    access_token_ttl_s: int = Field(default=900, ge=60, le=86_400)

    login_free_attempts: int = Field(default=5, ge=1, le=100)
    """Failed logins per address before the back-off starts (LoginThrottle)."""
    login_backoff_base_s: float = Field(default=1.0, gt=0)
    login_backoff_max_s: float = Field(default=900.0, gt=0)
    login_failure_window_s: float = Field(default=900.0, gt=0)

    password_hash_memory_budget_mib: int = Field(default=128, ge=64, le=4096)
    """Memory all concurrent argon2id hashes may hold together (64 MiB each): keep it well
    under the container's limit minus the service's own ~110 MiB."""
    password_hash_wait_s: float = Field(default=5.0, gt=0, le=30)
    """How long a sign-up or login waits for a hashing slot before a 503 with Retry-After."""

    admin_email: str | None = None
    admin_password: SecretStr | None = None
