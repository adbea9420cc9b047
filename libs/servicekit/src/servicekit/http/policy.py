"""How one downstream is called: timeouts, deadline, retries, retry budget and breaker.

Every service reads its downstreams from one settings field, a JSON object in the environment:

    DOWNSTREAMS='{"catalog": {"base_url": "http://catalog:8000", "read_timeout_s": 1}}'

and builds one `ResilientClient` per entry (`DownstreamSettings.downstream("catalog")`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.resilience.breaker import BreakerPolicy

__all__ = ["IDEMPOTENT_METHODS", "DownstreamPolicy", "DownstreamSettings"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""Methods safe to repeat (RFC 9110 §9.2.2); any other needs an `Idempotency-Key` to be retried."""


class DownstreamPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = ""
    connect_timeout_s: float = Field(default=1.0, gt=0)
    read_timeout_s: float = Field(default=5.0, gt=0)
    """Per attempt; both are also clipped to what is left of the overall deadline."""
    deadline_s: float = Field(default=10.0, gt=0)
    """The whole call, retries and backoff included; shortened by the caller's own budget."""
    budget_margin_s: float = Field(default=0.05, ge=0)
    """Kept back from the budget sent downstream, so the callee gives up (504) before we do."""
    max_attempts: int = Field(default=3, ge=1)
    backoff_initial_s: float = Field(default=0.1, gt=0)
    backoff_max_s: float = Field(default=2.0, gt=0)
    retry_budget_ratio: float = Field(default=0.2, ge=0)
    retry_budget_window_s: float = Field(default=10.0, gt=0)
    retry_budget_min_retries_per_s: float = Field(default=0.5, ge=0)
    """A floor, so a downstream called rarely can still be retried."""
    retry_on_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    single_flight: bool = True
    """Identical concurrent GETs share one request."""
    cache_max_entries: int = Field(default=1024, ge=0)
    """GET responses kept as their `Cache-Control` allows (servicekit.http.response_cache); 0
    keeps none."""
    breaker: BreakerPolicy = Field(default_factory=BreakerPolicy)

    @model_validator(mode="after")
    def _backoff_range(self) -> DownstreamPolicy:
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError("backoff_initial_s must not exceed backoff_max_s")
        return self


class DownstreamSettings(BaseSettings):
    """Mix into a service's settings: `class Settings(ServiceSettings, DownstreamSettings)`."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    downstreams: dict[str, DownstreamPolicy] = Field(default_factory=dict)

    def downstream(self, name: str) -> DownstreamPolicy:
        """The policy of `name`; a missing entry is a configuration error, raised at start-up."""
        try:
            return self.downstreams[name]
        except KeyError:
            raise KeyError(f"no downstream {name!r} in DOWNSTREAMS settings") from None
