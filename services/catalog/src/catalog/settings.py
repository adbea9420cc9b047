from __future__ import annotations

from pydantic import Field

from servicekit import ServiceSettings
from servicekit.events import InboxRetentionSettings

__all__ = ["CatalogSettings"]


class CatalogSettings(ServiceSettings, InboxRetentionSettings):
    service_name: str = "catalog"
    db_schema: str = "catalog"

    jwks_url: str
    """identity's public keys, e.g. http://identity:8000/.well-known/jwks.json."""
    jwt_issuer: str = "flotilla-identity"
    jwt_audience: str = "flotilla"

    kafka_bootstrap_servers: str

    product_max_age_s: int = Field(default=5, ge=0, le=3600)
    """`Cache-Control: max-age` of product reads: how stale a shown stock may be."""
