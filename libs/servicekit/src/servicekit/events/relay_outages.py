"""The outbox relay waiting out an unavailable Postgres or Kafka, as the consumers do.

    the relay's round fails                      `classify(error)`:
      Kafka refused or timed out (KafkaError)    → an outage of "kafka"
      the database unreachable, and its probe    → an outage of "database"
        (`SELECT 1`) fails too
      anything else                              → None: logged as an error, retried after
                                                   the same jittered back-off
    on an outage                                 `wait_out(reason)`: probe with jittered
                                                 exponential back-off (0.5 s → 10 s), one
                                                 warning when it starts and one when it
                                                 answers; `flotilla_outbox_relay_paused
                                                 {reason}` is 1 meanwhile

The relay gives up leadership before it waits (its lock lived on the failed connection, or it
cannot publish anyway), and campaigns again once the dependency answers. Writers are not
stopped: the API keeps accepting writes, rows wait in the outbox and drain on recovery, which
is why a paused relay is a metric, not a failed readiness probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping

from aiokafka.errors import KafkaError

from servicekit.db.errors import may_be_database_outage
from servicekit.events.outages import Probe, probe_answers
from servicekit.observability.metrics import OUTBOX_RELAY_PAUSED

__all__ = ["RelayOutages"]

log = logging.getLogger(__name__)


class RelayOutages:
    def __init__(
        self,
        *,
        service: str,
        probes: Mapping[str, Probe],
        stopping: asyncio.Event,
        probe_timeout_s: float = 2.0,
        backoff_s: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        """`probes` maps "database" and "kafka" to a call that raises unless it answers."""
        self._service = service
        self._probes = dict(probes)
        self._stopping = stopping
        self._probe_timeout_s = probe_timeout_s
        self._backoff_s = backoff_s
        self.reason: str | None = None
        """The dependency the relay waits for now, or None."""

    async def classify(self, error: BaseException) -> str | None:
        if isinstance(error, KafkaError):
            return "kafka"
        if may_be_database_outage(error) and not await self._answers("database"):
            return "database"
        return None

    async def wait_out(self, reason: str, error: BaseException) -> None:
        """Return once `reason` answers (or the relay stops)."""
        self.reason = reason
        OUTBOX_RELAY_PAUSED.labels(reason).set(1)
        log.warning(
            "%s unavailable: the outbox relay waits until it answers: %r",
            reason,
            error,
            extra={"service": self._service},
        )
        started = time.monotonic()
        try:
            failures = 0
            while not self._stopping.is_set() and not await self._answers(reason):
                failures += 1
                await self.back_off(failures)
            log.warning(
                "%s answers again after %.1fs: the outbox relay campaigns again",
                reason,
                time.monotonic() - started,
                extra={"service": self._service},
            )
        finally:
            self.reason = None
            OUTBOX_RELAY_PAUSED.labels(reason).set(0)

    async def back_off(self, failures: int) -> None:
        """Jittered exponential back-off after `failures` failures in a row (at most the
        ceiling), cut short when the relay stops."""
        low, high = self._backoff_s
        delay = min(high, low * 2 ** max(0, failures - 1)) * (0.5 + random.random() / 2)  # noqa: S311
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _answers(self, reason: str) -> bool:
        return await probe_answers(self._probes.get(reason), self._probe_timeout_s)
