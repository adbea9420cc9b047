"""The resilient HTTP client: deadlines, retries under a budget, a breaker, single-flight."""

from servicekit.http.client import RequestOptions, ResilientClient, is_downstream_failure
from servicekit.http.errors import DeadlineExceeded, DownstreamTimeout, DownstreamUnavailable
from servicekit.http.policy import IDEMPOTENT_METHODS, DownstreamPolicy, DownstreamSettings
from servicekit.http.retry_budget import RetryBudget
from servicekit.http.singleflight import SingleFlight

__all__ = [
    "IDEMPOTENT_METHODS",
    "DeadlineExceeded",
    "DownstreamPolicy",
    "DownstreamSettings",
    "DownstreamTimeout",
    "DownstreamUnavailable",
    "RequestOptions",
    "ResilientClient",
    "RetryBudget",
    "SingleFlight",
    "is_downstream_failure",
]
