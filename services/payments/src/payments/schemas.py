"""The HTTP contract of payments (what OpenAPI shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["PaymentOut", "PaymentPage"]


class PaymentOut(BaseModel):
    id: str = Field(examples=["pay_01jz3k8w6x9a2b4c5d6e7f8g9h"])
    order_id: str
    user_id: str
    amount_cents: int
    currency: str = Field(examples=["EUR"])
    status: Literal["pending", "succeeded", "failed", "refunded"] = Field(
        description="`refunded`: it succeeded, then its order was cancelled and the charge "
        "given back (see `refund_id`)."
    )
    reason: (
        Literal["declined", "insufficient_funds", "provider_unavailable", "order_expired"] | None
    ) = Field(description="Why a failed payment failed; null otherwise.")
    charge_id: str | None = Field(description="The provider's charge, once it succeeded.")
    attempts: int = Field(description="Charge attempts it took to reach the status.")
    created_at: datetime
    updated_at: datetime
    refund_status: Literal["refunded", "nothing_charged"] | None = Field(
        description="What the order's cancellation found: `refunded`, or `nothing_charged` "
        "(a `provider_unavailable` payment the provider turned out not to have charged); null "
        "while the order is not cancelled or nothing could have been charged."
    )
    refund_id: str | None = Field(description="The provider's refund (`re_…`), once refunded.")
    refunded_at: datetime | None = Field(description="When the charge was refunded (UTC).")


class PaymentPage(BaseModel):
    items: list[PaymentOut]
