"""psp's business metrics, defined once."""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter

__all__ = ["CHARGES", "CHARGE_LOOKUPS", "REFUNDS", "ChargeOutcome", "RefundOutcome"]

ChargeOutcome = Literal[
    "succeeded",
    "declined",
    "replayed",
    "rejected",
    "key_reused",
    "outage",
    "error",
    "answer_lost",
]
RefundOutcome = Literal[
    "succeeded",
    "replayed",
    "not_found",
    "not_refundable",
    "key_reused",
    "outage",
    "error",
    "answer_lost",
]

CHARGES = Counter(
    "flotilla_psp_charges_total",
    "Charge requests by outcome: succeeded, declined (recorded as failed), replayed (a known "
    "idempotency key), rejected (unknown payment method), key_reused (same key, other body), "
    "outage and error (injected faults; nothing recorded), answer_lost (recorded, then answered "
    "500 by the lose_answer_rate knob).",
    ["outcome"],
)
REFUNDS = Counter(
    "flotilla_psp_refunds_total",
    "Refund requests by outcome: succeeded, replayed (a known idempotency key), not_found "
    "(unknown charge), not_refundable (not succeeded or already refunded), key_reused, outage "
    "and error (injected faults; nothing recorded), answer_lost (recorded, then answered 500).",
    ["outcome"],
)
CHARGE_LOOKUPS = Counter(
    "flotilla_psp_charge_lookups_total",
    "Look-ups of the charge made under an idempotency key, by outcome: found, none, outage, error.",
    ["outcome"],
)
