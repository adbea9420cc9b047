"""The load generator's arrivals: bounded in flight (an overloaded target sheds arrivals as
"dropped" instead of piling up tasks), and the summary's percentiles."""

from __future__ import annotations

import asyncio
import math
import random

import httpx

from devstack.load.journeys import Shelf
from devstack.load.runner import Plan, run, summary
from devstack.load.tally import Tally, percentile
from devstack.load.traffic import Traffic


def test_percentiles_are_nearest_rank() -> None:
    values = sorted(float(n) for n in range(1, 101))
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


async def test_arrivals_beyond_the_in_flight_bound_are_dropped_not_queued() -> None:
    release = asyncio.Event()
    entered = 0

    async def stuck(traffic: Traffic, shelf: Shelf) -> None:
        nonlocal entered
        entered += 1
        await release.wait()

    lines: list[str] = []

    def show(line: str) -> None:
        lines.append(line)
        if line.startswith("time is up"):  # arrivals stopped: the stuck journeys may finish
            release.set()

    plan = Plan(rate=500, duration_s=0.3, progress_every_s=10, max_in_flight=3)
    async with httpx.AsyncClient() as http:
        traffic = Traffic(http, Tally())
        shelf = Shelf([], rng=random.Random(3))  # noqa: S311 - a traffic mix
        tally = await run(traffic, shelf, {"stuck": (stuck, 1.0)}, plan, show)
    assert entered == 3
    assert tally.journeys["stuck"] == 3
    assert tally.dropped > 0
    assert "3 journeys started" in summary(tally, plan, 0.3)[0]
