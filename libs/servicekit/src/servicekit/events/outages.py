"""Waiting out an unavailable dependency instead of failing the records that need it.

A handler that fails because the database cannot be reached says nothing about its event, so
such a failure must not spend the record's in-place attempts, retry tiers or the DLQ:

    a handler's failure that may be an outage   `may_be_database_outage(error)`, and the
      (unreachable, pool timeout, statement or  database's own probe (`SELECT 1`) fails too
      lock timeout, the handler's timeout)      → an outage of "database"; else a handler
                                                  failure, escalated as usual
    the forwarder gave up reaching Kafka        → an outage of "kafka"
    on an outage                                processing raises `DependencyUnavailable`; the
                                                  partition's worker gives its concurrency slot
                                                  back and waits here (`wait_out`), then
                                                  handles the same records again, from the
                                                  first one without a final outcome

The first worker to wait pauses every assigned partition (fetching stops; what was fetched
stays queued in its worker, uncommitted) and probes with jittered exponential back-off
(0.5 s → 10 s) until the dependency answers; then it resumes them. Meanwhile
`flotilla_consumer_paused{group,reason}` is 1 and the consumer's readiness probe fails naming
the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping

from servicekit.db.errors import may_be_database_outage
from servicekit.events.metrics import CONSUMER_PAUSED

__all__ = ["DependencyUnavailable", "Outages", "Probe", "probe_answers"]

log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[object]]


class DependencyUnavailable(Exception):
    """Records could not be handled because `reason` (a dependency) is unavailable.
    `settled` holds the offsets of the batch's records that reached a final outcome anyway."""

    def __init__(self, reason: str, error: BaseException) -> None:
        super().__init__(f"{reason} unavailable: {error!r}")
        self.reason = reason
        self.error = error
        self.settled: frozenset[int] = frozenset()


class Outages:
    def __init__(
        self,
        *,
        group: str,
        probes: Mapping[str, Probe],
        probe_timeout_s: float = 2.0,
        backoff_s: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        """`probes` maps a dependency ("database", "kafka") to a call that raises unless it
        answers."""
        self._group = group
        self._probes = dict(probes)
        self._probe_timeout_s = probe_timeout_s
        self._backoff_s = backoff_s
        self._reason: str | None = None
        self._recovered = asyncio.Event()
        self._recovered.set()
        self._pause: Callable[[], None] = lambda: None
        self._resume: Callable[[], None] = lambda: None

    @property
    def reason(self) -> str | None:
        """The dependency the consumer is paused for, or None."""
        return self._reason

    def attach(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        """How to pause and resume fetching the assigned partitions."""
        self._pause, self._resume = pause, resume

    async def classify(self, error: BaseException) -> str | None:
        """The unavailable dependency behind a handler's failure, or None for a failure of the
        handler's own (which escalates as usual)."""
        if may_be_database_outage(error) and not await self._answers("database"):
            return "database"
        return None

    async def wait_out(self, outage: DependencyUnavailable) -> None:
        """Return once the dependency answers (at once if another worker is waiting it out,
        when that one returns)."""
        if self._reason is not None:
            await self._recovered.wait()
            return
        reason = outage.reason
        self._reason = reason
        self._recovered.clear()
        CONSUMER_PAUSED.labels(self._group, reason).set(1)
        log.warning(
            "%s unavailable: pausing the consumer until it answers: %r",
            reason,
            outage.error,
            extra={"group": self._group},
        )
        started = time.monotonic()
        try:
            with contextlib.suppress(Exception):
                self._pause()
            failures = 0
            while not await self._answers(reason):
                failures += 1
                low, high = self._backoff_s
                delay = min(high, low * 2 ** (failures - 1)) * (0.5 + random.random() / 2)  # noqa: S311
                await asyncio.sleep(delay)
            log.warning(
                "%s answers again after %.1fs: resuming the consumer",
                reason,
                time.monotonic() - started,
                extra={"group": self._group},
            )
        finally:  # also when cancelled (revoked, stopping): another worker takes over
            self._reason = None
            CONSUMER_PAUSED.labels(self._group, reason).set(0)
            with contextlib.suppress(Exception):
                self._resume()
            self._recovered.set()

    async def _answers(self, reason: str) -> bool:
        return await probe_answers(self._probes.get(reason), self._probe_timeout_s)


async def probe_answers(probe: Probe | None, timeout_s: float) -> bool:
    """Whether the dependency answers its probe within `timeout_s` (no probe: assumed to)."""
    if probe is None:
        return True
    try:
        async with asyncio.timeout(timeout_s):
            await probe()
    except Exception:
        return False
    return True
