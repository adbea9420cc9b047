"""psp's business metrics, defined once."""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter

__all__ = ["CHARGES", "ChargeOutcome"]

ChargeOutcome = Literal[
    "succeeded", "declined", "replayed", "rejected", "key_reused", "outage", "error"
]

CHARGES = Counter(
    "flotilla_psp_charges_total",
    "Charge requests by outcome: succeeded, declined (recorded as failed), replayed (a known "
    "idempotency key), rejected (unknown payment method), key_reused (same key, other body), "
    "outage and error (injected faults; nothing recorded).",
    ["outcome"],
)
