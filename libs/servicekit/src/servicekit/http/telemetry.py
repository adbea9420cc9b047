"""The resilient client's metrics, defined once. Breaker state and transitions are the
breaker's own (`flotilla_circuit_breaker_*`, labelled with the downstream's name)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = [
    "CLIENT_CACHE",
    "CLIENT_CALLS",
    "CLIENT_REQUEST_DURATION",
    "CLIENT_RETRIES",
    "CLIENT_RETRY_BUDGET_EXHAUSTED",
]

CLIENT_CALLS = Counter(
    "flotilla_http_client_calls_total",
    "Outgoing HTTP calls (retries included) by final outcome: success, client_error, "
    "server_error, timeout, connect_error, circuit_open, deadline_exceeded.",
    ["downstream", "method", "outcome"],
)
CLIENT_CACHE = Counter(
    "flotilla_http_client_cache_total",
    "Cacheable GETs by how they were answered: hit (from the cache, no call), revalidated (a "
    "304 renewed the kept response) or miss (the downstream's full answer).",
    ["downstream", "result"],
)
CLIENT_RETRIES = Counter(
    "flotilla_http_client_retries_total", "Retried attempts of outgoing HTTP calls.", ["downstream"]
)
CLIENT_RETRY_BUDGET_EXHAUSTED = Counter(
    "flotilla_http_client_retry_budget_exhausted_total",
    "Retries not made because the downstream's retry budget was spent.",
    ["downstream"],
)
CLIENT_REQUEST_DURATION = Histogram(
    "http_client_request_duration_seconds",
    "Duration of each outgoing HTTP attempt, by downstream, method and status (or error).",
    ["downstream", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0),
)
