"""payments' business metrics, defined once."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["PAYMENTS", "REFUNDS", "REVENUE"]

PAYMENTS = Counter(
    "flotilla_payments_total",
    "Payments settled, by outcome: succeeded, declined, insufficient_funds, provider_unavailable.",
    ["outcome"],
)
REVENUE = Counter(
    "flotilla_payments_revenue_cents_total",
    "Money charged by succeeded payments, in the currency's minor units.",
    ["currency"],
)
REFUNDS = Counter(
    "flotilla_payments_refunds_total",
    "Cancelled orders' payments settled, by outcome: refunded, nothing_charged (the provider had "
    "no charge for a payment whose outcome was unknown), provider_unavailable (an attempt the "
    "provider did not answer; retried).",
    ["outcome"],
)
