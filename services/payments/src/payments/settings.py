from __future__ import annotations

from pydantic import Field, SecretStr

from servicekit import ServiceSettings
from servicekit.auth import JwksSettings
from servicekit.events import InboxRetentionSettings
from servicekit.http import DownstreamSettings

__all__ = ["PaymentsSettings"]


class PaymentsSettings(ServiceSettings, JwksSettings, DownstreamSettings, InboxRetentionSettings):
    """`DOWNSTREAMS` must name `psp`, the payment provider every reserved order is charged at
    (the simulator in dev and test; in prod, the real provider's URL)."""

    service_name: str = "payments"
    db_schema: str = "payments"

    psp_api_key: SecretStr
    """The merchant account's secret key at the provider (`sk_test_…`), sent as a bearer token
    on every call: from the secret file `psp_api_key` in SECRETS_DIR."""

    kafka_bootstrap_servers: str

    payment_deadline_margin_s: float = Field(default=5.0, ge=0)
    """No charge starts this close to the order's deadline (carried by the reservation): the
    order is about to be cancelled, and a charge would outlive it. Both sides read the
    database's clock (servicekit.db.clock), so the margin covers the charge's own duration,
    not the drift between the machines' clocks."""
    payment_give_up_s: float = Field(default=60.0, gt=0)
    """While the provider is unavailable a reservation is retried; once it is older than this,
    its payment fails with reason `provider_unavailable`, so the order's saga ends."""
