"""When a failed call is tried again, and after how long (Tenacity's retry, wait and stop).

Only idempotent requests are retried (the client decides that), only for transport errors and
the policy's `retry_on_statuses`; the wait is full-jitter exponential backoff, at least the
`Retry-After` the downstream asked for; retries stop at the policy's `max_attempts`, before a
sleep that would end past the deadline, and when the client's retry budget is spent.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Awaitable, Callable

import httpx
from tenacity import AsyncRetrying, RetryCallState, wait_exponential

from servicekit.http.policy import DownstreamPolicy
from servicekit.http.retry_budget import RetryBudget
from servicekit.http.telemetry import CLIENT_RETRIES, CLIENT_RETRY_BUDGET_EXHAUSTED

__all__ = ["RetryRules"]


class RetryRules:
    def __init__(
        self,
        name: str,
        policy: DownstreamPolicy,
        retry_budget: RetryBudget,
        *,
        clock: Callable[[], float],
        rng: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._name = name
        self._policy = policy
        self._retry_budget = retry_budget
        self._clock = clock
        self._rng = rng
        self._sleep = sleep
        self._backoff = wait_exponential(
            multiplier=policy.backoff_initial_s, max=policy.backoff_max_s
        )

    def retrying(self, *, retryable: bool, deadline: float) -> AsyncRetrying:
        """One call's retry loop; when it stops, the caller gets the last attempt's outcome."""
        return AsyncRetrying(
            retry=self._should_retry if retryable else (lambda _: False),
            wait=self._wait,
            stop=lambda state: self._should_stop(state, deadline),
            before_sleep=lambda _: CLIENT_RETRIES.labels(self._name).inc(),
            sleep=self._sleep,
            retry_error_callback=_last_outcome,
        )

    def _should_retry(self, state: RetryCallState) -> bool:
        outcome = state.outcome
        assert outcome is not None
        if outcome.failed:
            return isinstance(outcome.exception(), httpx.TransportError)
        response: httpx.Response = outcome.result()
        return response.status_code in self._policy.retry_on_statuses

    def _wait(self, state: RetryCallState) -> float:
        """Full jitter: uniform in [0, the exponential step]; at least the `Retry-After`."""
        backoff = self._rng() * self._backoff(state)
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            response: httpx.Response = outcome.result()
            retry_after = _retry_after_s(response.headers.get("retry-after"))
            if retry_after is not None:
                return max(backoff, retry_after)
        return backoff

    def _should_stop(self, state: RetryCallState, deadline: float) -> bool:
        if state.attempt_number >= self._policy.max_attempts:
            return True
        if self._clock() + (state.upcoming_sleep or 0.0) >= deadline:
            return True
        if not self._retry_budget.try_spend():
            CLIENT_RETRY_BUDGET_EXHAUSTED.labels(self._name).inc()
            return True
        return False


def _last_outcome(state: RetryCallState) -> httpx.Response:
    """When retries stop, the caller gets what the last attempt got."""
    assert state.outcome is not None
    response: httpx.Response = state.outcome.result()
    return response


def _retry_after_s(value: str | None) -> float | None:
    """`Retry-After` as seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
