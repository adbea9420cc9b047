"""What the simulated provider decides about a charge, and its fault knobs; no I/O here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = [
    "APPROVING_METHODS",
    "DECLINING_METHODS",
    "Charge",
    "ChargeNotFound",
    "ChargeNotRefundable",
    "ChargeRequest",
    "ChargeStatus",
    "Decision",
    "DeclineCode",
    "Faults",
    "IdempotencyKeyReused",
    "KeyBusy",
    "Refund",
    "RefundRequest",
    "UnknownPaymentMethod",
    "decide",
]

ChargeStatus = Literal["succeeded", "failed"]
DeclineCode = Literal["card_declined", "insufficient_funds"]

# Stripe's test payment methods: each behaves the same way every time.
APPROVING_METHODS = frozenset({"pm_card_visa", "pm_card_mastercard", "pm_card_amex"})
DECLINING_METHODS: dict[str, DeclineCode] = {
    "pm_card_declined": "card_declined",
    "pm_card_insufficient_funds": "insufficient_funds",
}


@dataclass(frozen=True)
class ChargeRequest:
    amount: int
    currency: str
    payment_method: str
    reference: str

    def fingerprint(self) -> str:
        """What makes a retry "the same request": its canonical body."""
        body = json.dumps(
            {
                "amount": self.amount,
                "currency": self.currency,
                "payment_method": self.payment_method,
                "reference": self.reference,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Charge:
    id: str
    account: str
    """The merchant account that made it; only that account sees it or its key."""
    idempotency_key: str
    fingerprint: str
    amount: int
    currency: str
    payment_method: str
    reference: str
    status: ChargeStatus
    decline_code: DeclineCode | None
    response_status: int
    """The first answer to the key, given again on every replay."""
    response_body: bytes
    created_at: datetime


@dataclass(frozen=True)
class RefundRequest:
    charge_id: str

    def fingerprint(self) -> str:
        """What makes a retry "the same refund": its canonical body."""
        body = json.dumps({"charge_id": self.charge_id}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Refund:
    """A full refund of a succeeded charge; a charge has at most one."""

    id: str
    account: str
    idempotency_key: str
    fingerprint: str
    charge_id: str
    amount: int
    currency: str
    response_status: int
    """The first answer to the key, given again on every replay."""
    response_body: bytes
    created_at: datetime


@dataclass(frozen=True)
class Faults:
    """Knobs that make the provider misbehave, shared by every replica (one database row)."""

    latency_ms: int = 0
    error_rate: float = 0.0
    decline_rate: float = 0.0
    outage: bool = False
    lose_answer_rate: float = 0.0
    """The fraction of charges and refunds that are made (and committed) but answered with a
    500, as when the answer is lost on its way back: only a retry with the key finds out."""


@dataclass(frozen=True)
class Decision:
    status: ChargeStatus
    decline_code: DeclineCode | None = None


class UnknownPaymentMethod(ValueError):
    pass


class IdempotencyKeyReused(Exception):
    """The key was first used with another request body."""


class ChargeNotFound(LookupError):
    """A refund names a charge the provider never made."""


class ChargeNotRefundable(Exception):
    """A refund names a charge that did not succeed, or one already refunded under another
    key (`already_refunded`)."""

    def __init__(self, charge_id: str, *, already_refunded: bool) -> None:
        super().__init__(charge_id)
        self.already_refunded = already_refunded


class KeyBusy(Exception):
    """A concurrent request with the same key held it for longer than the lock timeout."""


def decide(request: ChargeRequest, faults: Faults, roll: Callable[[], float]) -> Decision:
    """Approve or decline. The test methods always behave the same; an approving method is
    declined (`card_declined`) for the `decline_rate` fraction of rolls."""
    declined = DECLINING_METHODS.get(request.payment_method)
    if declined is not None:
        return Decision("failed", declined)
    if request.payment_method not in APPROVING_METHODS:
        raise UnknownPaymentMethod(request.payment_method)
    if faults.decline_rate > 0 and roll() < faults.decline_rate:
        return Decision("failed", "card_declined")
    return Decision("succeeded")
