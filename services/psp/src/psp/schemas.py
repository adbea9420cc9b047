"""The HTTP contract of psp (what OpenAPI shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChargeIn",
    "ChargeOut",
    "ChargePage",
    "FaultsIn",
    "FaultsOut",
    "RefundIn",
    "RefundOut",
]


class ChargeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    amount: int = Field(ge=0, le=100_000_000, description="In the currency's minor units (cents).")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. `EUR`.")
    payment_method: str = Field(
        min_length=1,
        max_length=100,
        examples=["pm_card_visa"],
        description=(
            "`pm_card_visa`, `pm_card_mastercard` and `pm_card_amex` are approved; "
            "`pm_card_declined` and `pm_card_insufficient_funds` are always declined."
        ),
    )
    reference: str = Field(
        min_length=1, max_length=200, description="The caller's own id for what is paid for."
    )


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    charge_id: str = Field(
        min_length=1, max_length=40, description="The succeeded charge to refund in full."
    )


class RefundOut(BaseModel):
    id: str = Field(examples=["re_01jz3k8w6x9a2b4c5d6e7f8g9h"])
    charge_id: str
    amount: int = Field(description="The whole charge's amount (full refunds only).")
    currency: str
    status: Literal["succeeded"]
    created_at: datetime


class ChargeOut(BaseModel):
    id: str = Field(examples=["ch_01jz3k8w6x9a2b4c5d6e7f8g9h"])
    amount: int
    currency: str
    payment_method: str
    reference: str
    status: Literal["succeeded", "failed"]
    decline_code: Literal["card_declined", "insufficient_funds"] | None = Field(
        description="Why a failed charge was declined; null when it succeeded."
    )
    created_at: datetime
    refunded: bool = Field(
        description="Whether the charge was refunded (in full). A charge's own POST answer, and "
        "its replays, show it as it was when made."
    )
    refund: RefundOut | None = Field(description="The charge's refund, once refunded.")


class ChargePage(BaseModel):
    items: list[ChargeOut]


class FaultsIn(BaseModel):
    """The whole set of knobs; an omitted knob is off."""

    model_config = ConfigDict(extra="forbid", strict=True)

    latency_ms: int = Field(
        default=0, ge=0, le=600_000, description="Added before each charge or refund is decided."
    )
    error_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="The fraction of charges and refunds answered 500 (nothing recorded).",
    )
    decline_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="The fraction of approvable charges declined as `card_declined`.",
    )
    outage: bool = Field(
        default=False, description="Every charge and refund answers 503 with Retry-After."
    )
    lose_answer_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "The fraction of charges and refunds (replays included) that are recorded but "
            "answered 500, as if the answer were lost on its way back: only a retry with the "
            "same Idempotency-Key (or a look-up by it) finds out what happened."
        ),
    )


class FaultsOut(BaseModel):
    latency_ms: int
    error_rate: float
    decline_rate: float
    outage: bool
    lose_answer_rate: float
