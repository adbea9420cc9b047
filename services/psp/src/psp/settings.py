from __future__ import annotations

from pydantic import Field

from servicekit.settings import ServiceSettings

__all__ = ["PspSettings"]


class PspSettings(ServiceSettings):
    service_name: str = "psp"
    db_schema: str = "psp"

    jwks_url: str
    """identity's public keys, for the admin-only fault knobs."""
    jwt_issuer: str = "flotilla-identity"
    jwt_audience: str = "flotilla"

    outage_retry_after_s: int = Field(default=1, ge=1, le=3600)
    """The `Retry-After` of a 503 while the `outage` knob is on."""
