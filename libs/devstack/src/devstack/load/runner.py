"""Arrivals at a fixed rate for a bounded time, live progress, and the summary.

Arrivals are a Poisson process at `Plan.rate` journeys per second (exponential gaps from the
run's random generator), open loop: a journey still waiting on an answer never delays the next
arrival. At most `Plan.max_in_flight` journeys run at once; arrivals beyond that are counted as
dropped instead of piling up without bound. When the time is up no journey starts, and the ones
in flight finish (an order is followed until it is final, at most `journeys.FOLLOW_FOR_S`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from devstack.load.journeys import FOLLOW_FOR_S, Shelf
from devstack.load.tally import Tally, percentile
from devstack.load.traffic import Traffic

__all__ = ["Journey", "Plan", "run", "summary"]

Journey = Callable[[Traffic, Shelf], Awaitable[object]]


@dataclass(frozen=True)
class Plan:
    rate: float
    """Journeys started per second, on average."""
    duration_s: float
    progress_every_s: float = 1.0
    max_in_flight: int = 500


async def run(
    traffic: Traffic,
    shelf: Shelf,
    journeys: Mapping[str, tuple[Journey, float]],
    plan: Plan,
    show: Callable[[str], None],
) -> Tally:
    """Drive the journeys for `plan.duration_s`, show progress, return the tally."""
    tally = traffic.tally
    names = list(journeys)
    weights = [weight for _, weight in journeys.values()]
    in_flight: set[asyncio.Task[object]] = set()
    started = time.monotonic()
    next_arrival = started
    next_progress = started + plan.progress_every_s
    last_progress = started
    end = started + plan.duration_s
    while (now := time.monotonic()) < end:
        if now >= next_progress:
            show(_progress_line(tally, now - started, now - last_progress, len(in_flight)))
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
        await asyncio.sleep(max(0.0, min(next_arrival, next_progress, end) - now))
    if in_flight:
        show(f"time is up: waiting for {len(in_flight)} journeys in flight to finish")
        done, pending = await asyncio.wait(set(in_flight), timeout=FOLLOW_FOR_S + 15)
        for task in pending:
            task.cancel()
        if pending:
            tally.orders["abandoned at the end"] += len(pending)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                show(f"a journey failed: {task.exception()!r}")
    return tally


def _progress_line(tally: Tally, elapsed: float, window_s: float, in_flight: int) -> str:
    window = tally.take_window()
    latencies = sorted(window.latencies_ms)
    rate = len(latencies) / window_s if window_s > 0 else 0.0
    orders = " ".join(f"{status} {count}" for status, count in sorted(tally.orders.items()))
    return (
        f"{elapsed:6.0f}s  {rate:6.1f} req/s  p50 {percentile(latencies, 50):6.1f} ms"
        f"  p99 {percentile(latencies, 99):7.1f} ms  failed {window.failures:<3d}"
        f"  in flight {in_flight:<4d} orders: {orders or '-'}"
    )


def summary(tally: Tally, plan: Plan, elapsed_s: float) -> list[str]:
    """The run in a few lines: journeys, each operation's latencies, answers, orders."""
    started = sum(tally.journeys.values())
    lines = [
        f"{started} journeys started in {plan.duration_s:g} s ({started / plan.duration_s:.1f}/s"
        f" of {plan.rate:g}/s offered; {tally.dropped} dropped), all done after "
        f"{elapsed_s:.0f} s: "
        + ", ".join(f"{name} {count}" for name, count in sorted(tally.journeys.items())),
        f"{tally.requests} requests, answers: "
        + ", ".join(f"{answer}: {count}" for answer, count in sorted(tally.answers.items())),
        "",
        f"{'operation':30}{'count':>8}{'shed':>6}{'failed':>8}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'max ms':>9}",
    ]
    for operation, values in sorted(tally.latencies_ms.items()):
        ordered = sorted(values)
        lines.append(
            f"{operation:30}{len(ordered):8d}{tally.shed[operation]:6d}"
            f"{tally.failures[operation]:8d}"
            + "".join(f"{percentile(ordered, q):9.1f}" for q in (50, 95, 99, 100))
        )
    if tally.orders:
        final = sorted(tally.order_final_ms)
        lines += [
            "",
            "orders: " + ", ".join(f"{s} {n}" for s, n in sorted(tally.orders.items())),
            f"POST → final state: p50 {percentile(final, 50):.0f} ms, "
            f"p99 {percentile(final, 99):.0f} ms ({len(final)} final orders)",
        ]
    return lines
