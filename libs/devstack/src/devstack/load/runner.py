"""Arrivals at a fixed rate, for a bounded time or until stopped, with progress snapshots.

Arrivals are a Poisson process at `Plan.rate` journeys per second (exponential gaps from the
run's random generator), open loop: a journey still waiting on an answer never delays the next
arrival. At most `Plan.max_in_flight` journeys run at once; arrivals beyond that are counted as
dropped instead of piling up without bound. When the time is up (`Plan.duration_s`), or the
`stop` event is set (a continuous run told to stop: SIGTERM in a pod), no journey starts, and
the ones in flight finish (an order is followed until it is final, at most
`journeys.FOLLOW_FOR_S`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from devstack.load.journeys import FOLLOW_FOR_S, Shelf
from devstack.load.report import Report, progress
from devstack.load.tally import Tally
from devstack.load.traffic import Traffic

__all__ = ["DRAIN_S", "Journey", "Plan", "run"]

Journey = Callable[[Traffic, Shelf], Awaitable[object]]

DRAIN_S = FOLLOW_FOR_S + 15
"""The longest wait for the journeys in flight when arrivals stop."""


@dataclass(frozen=True)
class Plan:
    rate: float
    """Journeys started per second, on average."""
    duration_s: float | None
    """Seconds of arrivals; None: until stopped."""
    progress_every_s: float = 1.0
    max_in_flight: int = 500


async def run(
    traffic: Traffic,
    shelf: Shelf,
    journeys: Mapping[str, tuple[Journey, float]],
    plan: Plan,
    report: Report,
    stop: asyncio.Event | None = None,
) -> tuple[Tally, float]:
    """Drive the journeys until the plan's time is up or `stop` is set, reporting progress;
    return the tally and the seconds of arrivals."""
    tally = traffic.tally
    stop = stop or asyncio.Event()
    names = list(journeys)
    weights = [weight for _, weight in journeys.values()]
    in_flight: set[asyncio.Task[object]] = set()
    started = time.monotonic()
    next_arrival = started
    next_progress = started + plan.progress_every_s
    last_progress = started
    end = started + plan.duration_s if plan.duration_s is not None else math.inf
    while (now := time.monotonic()) < end and not stop.is_set():
        if now >= next_progress:
            report.progress(progress(tally, now - started, now - last_progress, len(in_flight)))
            last_progress, next_progress = now, next_progress + plan.progress_every_s
        if now >= next_arrival:
            next_arrival += shelf.rng.expovariate(plan.rate)
            if len(in_flight) >= plan.max_in_flight:
                tally.dropped += 1
                continue
            name = shelf.rng.choices(names, weights=weights)[0]
            tally.journeys[name] += 1
            task = asyncio.ensure_future(journeys[name][0](traffic, shelf))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            continue
        wake = min(next_arrival, next_progress, end) - now
        with contextlib.suppress(TimeoutError):  # woken by the stop, or at the next event
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, wake))
    arrivals_s = time.monotonic() - started
    if in_flight:
        report.note(f"arrivals stopped: waiting for {len(in_flight)} journeys in flight to finish")
        done, pending = await asyncio.wait(set(in_flight), timeout=DRAIN_S)
        for task in pending:
            task.cancel()
        if pending:
            tally.orders["abandoned at the end"] += len(pending)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                report.note(f"a journey failed: {task.exception()!r}")
    return tally, arrivals_s
