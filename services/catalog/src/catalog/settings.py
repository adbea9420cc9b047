from __future__ import annotations

from pydantic import Field

from servicekit import ServiceSettings
from servicekit.auth import JwksSettings
from servicekit.events import InboxRetentionSettings

__all__ = ["CatalogSettings"]


class CatalogSettings(ServiceSettings, JwksSettings, InboxRetentionSettings):
    service_name: str = "catalog"
    db_schema: str = "catalog"

    kafka_bootstrap_servers: str

    product_max_age_s: int = Field(default=5, ge=0, le=3600)
    """`Cache-Control: max-age` of product reads: how stale a shown stock may be, and how long
    orders may price an order from a price it read before (its client keeps the answer)."""
