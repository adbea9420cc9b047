"""A retry budget: retries may add at most `ratio` of the calls made over a sliding window.

Retrying each call a few times multiplies the load on a downstream that is already failing;
a budget caps the extra load for the whole client, whatever each call's own policy allows.
`min_retries_per_s` is a floor so that a client with little traffic can still retry.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["RetryBudget"]

_BUCKETS = 10


class _Bucket:
    __slots__ = ("calls", "epoch", "retries")

    def __init__(self) -> None:
        self.epoch = -1
        self.calls = 0
        self.retries = 0


class RetryBudget:
    def __init__(
        self,
        ratio: float,
        window_s: float,
        min_retries_per_s: float = 0.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ratio = ratio
        self.window_s = window_s
        self.floor = min_retries_per_s * window_s
        self._clock = clock
        self._bucket_s = window_s / _BUCKETS
        self._buckets = [_Bucket() for _ in range(_BUCKETS)]

    def record_call(self) -> None:
        """One call (not attempt) made; it earns `ratio` of a retry."""
        self._current().calls += 1

    def try_spend(self) -> bool:
        """Take one retry from the budget; False (and nothing taken) when it is spent."""
        calls, retries = self._totals()
        if retries + 1 > self.ratio * calls + self.floor:
            return False
        self._current().retries += 1
        return True

    def _current(self) -> _Bucket:
        epoch = math.floor(self._clock() / self._bucket_s)
        bucket = self._buckets[epoch % _BUCKETS]
        if bucket.epoch != epoch:
            bucket.epoch, bucket.calls, bucket.retries = epoch, 0, 0
        return bucket

    def _totals(self) -> tuple[int, int]:
        oldest = math.floor(self._clock() / self._bucket_s) - _BUCKETS
        live = [bucket for bucket in self._buckets if bucket.epoch > oldest]
        return sum(b.calls for b in live), sum(b.retries for b in live)
