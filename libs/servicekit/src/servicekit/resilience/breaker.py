"""A circuit breaker for calls to one downstream (an SMTP server, an HTTP service).

    breaker = CircuitBreaker("smtp", BreakerPolicy(minimum_calls=5), is_failure=is_outage)
    async with breaker.guard():      # or: await breaker.call(send, message)
        await send(message)

CLOSED: every call goes through and its outcome lands in a time-based sliding window (one
bucket per `bucket_s` over `window_s`). Once the window holds at least `minimum_calls`, a
failure rate or a slow-call rate at or above its threshold opens the breaker.

OPEN: calls fail fast with `CircuitOpenError(retry_after_s)`, without being made, for a
jittered `open_wait_s` (so replicas that opened together do not probe together).

HALF_OPEN: up to `half_open_max_calls` probe calls go through; the others are rejected. A probe
that fails (or is slow) reopens the breaker at once; when every probe has succeeded it closes,
with an empty window.

`is_failure(error)` says which exceptions count against the downstream: one that does not (an
HTTP 4xx, a refused recipient) is a call the downstream answered, so it counts as a success.
Cancellation (`CancelledError`) is neither. A call admitted before a state change does not
decide the new state: it was measured against a downstream the breaker no longer believes in.

Single event loop, no locks: every state change happens between awaits.
"""

from __future__ import annotations

import enum
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from prometheus_client import Counter, Gauge

__all__ = [
    "BREAKER_CALLS",
    "BREAKER_STATE",
    "BREAKER_TRANSITIONS",
    "BreakerPolicy",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "StateChange",
    "WindowSnapshot",
]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class CircuitState(enum.IntEnum):
    """The values are those of the `flotilla_circuit_breaker_state` gauge."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


BREAKER_STATE = Gauge(
    "flotilla_circuit_breaker_state",
    "Circuit breaker state by breaker name: 0 closed, 1 open, 2 half-open.",
    ["name"],
)
BREAKER_TRANSITIONS = Counter(
    "flotilla_circuit_breaker_transitions_total",
    "Circuit breaker state changes.",
    ["name", "from_state", "to_state"],
)
BREAKER_CALLS = Counter(
    "flotilla_circuit_breaker_calls_total",
    "Calls through a circuit breaker by outcome: success, failure, slow, rejected.",
    ["name", "outcome"],
)


class CircuitOpenError(Exception):
    """The breaker refused the call without making it; try again after `retry_after_s`."""

    def __init__(self, name: str, retry_after_s: float) -> None:
        super().__init__(f"circuit {name!r} is open; retry in {retry_after_s:.1f}s")
        self.name = name
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class BreakerPolicy:
    window_s: float = 30.0
    bucket_s: float = 1.0
    minimum_calls: int = 10
    """Fewer calls than this in the window never open the breaker, whatever their outcome."""
    failure_rate_threshold: float = 0.5
    slow_call_duration_s: float | None = None
    """A call at least this long is slow (whether it succeeded or not); None: none are."""
    slow_call_rate_threshold: float = 1.0
    open_wait_s: float = 10.0
    open_wait_jitter: float = 0.2
    """The wait is `open_wait_s` ± this fraction of it, uniformly."""
    half_open_max_calls: int = 3

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.bucket_s <= 0 or self.bucket_s > self.window_s:
            raise ValueError("need 0 < bucket_s <= window_s")
        if self.minimum_calls < 1 or self.half_open_max_calls < 1:
            raise ValueError("minimum_calls and half_open_max_calls must be at least 1")
        for rate in (self.failure_rate_threshold, self.slow_call_rate_threshold):
            if not 0 < rate <= 1:
                raise ValueError("rate thresholds must be in (0, 1]")
        if self.slow_call_duration_s is not None and self.slow_call_duration_s <= 0:
            raise ValueError("slow_call_duration_s must be positive")
        if self.open_wait_s <= 0 or not 0 <= self.open_wait_jitter < 1:
            raise ValueError("need open_wait_s > 0 and 0 <= open_wait_jitter < 1")


@dataclass(frozen=True)
class StateChange:
    name: str
    from_state: CircuitState
    to_state: CircuitState
    at: float
    """The breaker clock's reading."""


@dataclass(frozen=True)
class WindowSnapshot:
    calls: int
    failures: int
    slow: int

    @property
    def failure_rate(self) -> float:
        return self.failures / self.calls if self.calls else 0.0

    @property
    def slow_rate(self) -> float:
        return self.slow / self.calls if self.calls else 0.0


class _Bucket:
    __slots__ = ("calls", "epoch", "failures", "slow")

    def __init__(self) -> None:
        self.epoch = -1
        self.calls = 0
        self.failures = 0
        self.slow = 0


class _SlidingWindow:
    """Outcomes of the last `window_s`, in `bucket_s` slices; old slices are reused in place."""

    def __init__(self, window_s: float, bucket_s: float) -> None:
        self._bucket_s = bucket_s
        self._buckets = [_Bucket() for _ in range(math.ceil(window_s / bucket_s))]

    def record(self, now: float, *, failed: bool, slow: bool) -> None:
        epoch = math.floor(now / self._bucket_s)
        bucket = self._buckets[epoch % len(self._buckets)]
        if bucket.epoch != epoch:
            bucket.epoch, bucket.calls, bucket.failures, bucket.slow = epoch, 0, 0, 0
        bucket.calls += 1
        bucket.failures += failed
        bucket.slow += slow

    def snapshot(self, now: float) -> WindowSnapshot:
        oldest = math.floor(now / self._bucket_s) - len(self._buckets)
        live = [bucket for bucket in self._buckets if bucket.epoch > oldest]
        return WindowSnapshot(
            calls=sum(bucket.calls for bucket in live),
            failures=sum(bucket.failures for bucket in live),
            slow=sum(bucket.slow for bucket in live),
        )

    def clear(self) -> None:
        for bucket in self._buckets:
            bucket.epoch = -1


@dataclass(frozen=True)
class _Permit:
    generation: int
    started: float


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        policy: BreakerPolicy | None = None,
        *,
        is_failure: Callable[[BaseException], bool] = lambda error: True,
        on_state_change: Callable[[StateChange], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.name = name
        self.policy = policy or BreakerPolicy()
        self._is_failure = is_failure
        self._on_state_change = on_state_change
        self._clock = clock
        self._rng = rng
        self._window = _SlidingWindow(self.policy.window_s, self.policy.bucket_s)
        self._state = CircuitState.CLOSED
        self._generation = 0
        """Bumped on every transition, so late outcomes of earlier calls are told apart."""
        self._open_until = 0.0
        self._probes_admitted = 0
        self._probes_succeeded = 0
        BREAKER_STATE.labels(name).set(CircuitState.CLOSED)

    @property
    def state(self) -> CircuitState:
        """The current state; an OPEN breaker whose wait is over reports HALF_OPEN."""
        if self._state is CircuitState.OPEN and self._clock() >= self._open_until:
            self._transition(CircuitState.HALF_OPEN)
        return self._state

    def retry_after_s(self) -> float:
        """How long until calls may go through again (0 unless OPEN)."""
        if self.state is CircuitState.OPEN:
            return max(0.0, self._open_until - self._clock())
        return 0.0

    def snapshot(self) -> WindowSnapshot:
        return self._window.snapshot(self._clock())

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Run the block as one call; raises CircuitOpenError instead when refused."""
        permit = self._acquire()
        try:
            yield
        except Exception as error:
            self._complete(permit, failed=self._is_failure(error))
            raise
        except BaseException:
            self._abandon(permit)
            raise
        self._complete(permit, failed=False)

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        async with self.guard():
            return await fn(*args, **kwargs)

    # -- the state machine -------------------------------------------------------------------

    def _acquire(self) -> _Permit:
        state = self.state
        if state is CircuitState.OPEN:
            self._reject(self._open_until - self._clock())
        if state is CircuitState.HALF_OPEN:
            if self._probes_admitted >= self.policy.half_open_max_calls:
                # The probes in flight will decide soon; come back after a short wait.
                self._reject(self.policy.open_wait_s * (1 - self.policy.open_wait_jitter) / 2)
            self._probes_admitted += 1
        return _Permit(self._generation, self._clock())

    def _reject(self, retry_after_s: float) -> None:
        BREAKER_CALLS.labels(self.name, "rejected").inc()
        raise CircuitOpenError(self.name, max(0.0, retry_after_s))

    def _complete(self, permit: _Permit, *, failed: bool) -> None:
        now = self._clock()
        limit = self.policy.slow_call_duration_s
        slow = limit is not None and now - permit.started >= limit
        BREAKER_CALLS.labels(self.name, "failure" if failed else "success").inc()
        if slow:
            BREAKER_CALLS.labels(self.name, "slow").inc()
        if permit.generation != self._generation:
            return
        if self._state is CircuitState.HALF_OPEN:
            self._probe_done(ok=not (failed or slow))
            return
        self._window.record(now, failed=failed, slow=slow)
        window = self._window.snapshot(now)
        if window.calls >= self.policy.minimum_calls and (
            window.failure_rate >= self.policy.failure_rate_threshold
            or window.slow_rate >= self.policy.slow_call_rate_threshold
        ):
            self._transition(CircuitState.OPEN)

    def _abandon(self, permit: _Permit) -> None:
        """A cancelled call says nothing about the downstream; give its probe slot back."""
        if permit.generation == self._generation and self._state is CircuitState.HALF_OPEN:
            self._probes_admitted -= 1

    def _probe_done(self, *, ok: bool) -> None:
        if not ok:
            self._transition(CircuitState.OPEN)
            return
        self._probes_succeeded += 1
        if self._probes_succeeded >= self.policy.half_open_max_calls:
            self._transition(CircuitState.CLOSED)

    def _transition(self, to_state: CircuitState) -> None:
        from_state = self._state
        self._state = to_state
        self._generation += 1
        now = self._clock()
        if to_state is CircuitState.OPEN:
            jitter = self.policy.open_wait_jitter * (2 * self._rng() - 1)
            self._open_until = now + self.policy.open_wait_s * (1 + jitter)
        elif to_state is CircuitState.HALF_OPEN:
            self._probes_admitted = self._probes_succeeded = 0
        else:
            self._window.clear()
        BREAKER_STATE.labels(self.name).set(to_state)
        BREAKER_TRANSITIONS.labels(self.name, from_state.label, to_state.label).inc()
        log.log(
            logging.WARNING if to_state is CircuitState.OPEN else logging.INFO,
            "circuit breaker %s: %s -> %s",
            self.name,
            from_state.label,
            to_state.label,
            extra={
                "breaker": self.name,
                "from_state": from_state.label,
                "to_state": to_state.label,
            },
        )
        if self._on_state_change is not None:
            try:
                self._on_state_change(StateChange(self.name, from_state, to_state, now))
            except Exception:
                log.exception("circuit breaker state-change callback failed")
