from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from servicekit.settings import ServiceSettings

__all__ = ["IdentitySettings"]


class IdentitySettings(ServiceSettings):
    service_name: str = "identity"
    db_schema: str = "identity"

    jwt_keys_dir: Path
    """A folder of Ed25519 private keys (PKCS8 PEM), e.g. a mounted Secret."""
    jwt_active_key: str | None = None
    jwt_issuer: str = "flotilla-identity"
    jwt_audience: str = "flotilla"
    access_token_ttl_s: int = Field(default=900, ge=60, le=86_400)

    admin_email: str | None = None
    admin_password: SecretStr | None = None
