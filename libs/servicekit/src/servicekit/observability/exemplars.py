"""Which sampled requests lend their trace to a latency bucket as its exemplar.

A histogram keeps one exemplar per bucket, the last one set, and a scrape reads it: setting one
for every sampled request (prometheus_client validates its labels, builds it and takes a lock
each time) was a tenth of a sampled request's cost, to keep one trace id per bucket out of
thousands. `ExemplarPace` lets a bucket of a series take one at most once per `interval_s`: a
scrape, 15 s or so apart, still finds a recent trace in every bucket that had a sampled request
since the last one, and a rare slow bucket takes the first sampled request that lands in it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Sequence

__all__ = ["ExemplarPace"]


class ExemplarPace:
    def __init__(self, bounds: Sequence[float], interval_s: float = 1.0) -> None:
        self._bounds = tuple(bounds)
        """The histogram's upper bounds without +Inf: a value above them all is +Inf's."""
        self._interval_s = interval_s
        self._next_at: dict[tuple[Hashable, int], float] = {}

    def due(self, series: Hashable, value: float, now: float) -> bool:
        """Whether the observation of `value` in `series` at `now` (a monotonic clock's
        seconds) sets its bucket's exemplar; if it does, that bucket waits `interval_s`."""
        # The bucket prometheus_client counts it in: the first bound the value does not exceed.
        bucket = (series, bisect_left(self._bounds, value))
        if now < self._next_at.get(bucket, now):
            return False
        self._next_at[bucket] = now + self._interval_s
        return True
