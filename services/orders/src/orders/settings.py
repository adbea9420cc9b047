from __future__ import annotations

from pydantic import Field

from servicekit import ServiceSettings
from servicekit.auth import JwksSettings
from servicekit.events import InboxRetentionSettings
from servicekit.http import DownstreamSettings

__all__ = ["OrdersSettings"]


class OrdersSettings(ServiceSettings, JwksSettings, DownstreamSettings, InboxRetentionSettings):
    """orders reads prices from the `catalog` entry of `DOWNSTREAMS` (required)."""

    service_name: str = "orders"
    db_schema: str = "orders"

    kafka_bootstrap_servers: str

    order_deadline_s: float = Field(default=120.0, gt=0, le=86_400)
    """How long an order may take to reach a final state before it is cancelled (timeout)."""
    sweep_interval_s: float = Field(default=5.0, gt=0, le=3_600)
    """How often the sweeper looks for orders past their deadline."""
    sweep_batch_size: int = Field(default=100, ge=1, le=10_000)
    """Orders cancelled per transaction."""
