"""The load generator's arrivals: bounded in flight (an overloaded target sheds arrivals as
"dropped" instead of piling up tasks), a continuous run that stops when told, the summary's
percentiles, and its JSON lines for a pod's logs."""

from __future__ import annotations

import asyncio
import json
import math
import random

import httpx

from devstack.load.journeys import Shelf
from devstack.load.report import Report, summary_lines
from devstack.load.runner import Plan, run
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
        if line.startswith("arrivals stopped"):  # the stuck journeys may finish now
            release.set()

    plan = Plan(rate=500, duration_s=0.3, progress_every_s=10, max_in_flight=3)
    async with httpx.AsyncClient() as http:
        traffic = Traffic(http, Tally())
        shelf = Shelf([], rng=random.Random(3))  # noqa: S311 - a traffic mix
        tally, arrivals_s = await run(traffic, shelf, {"stuck": (stuck, 1.0)}, plan, Report(show))
    assert entered == 3
    assert tally.journeys["stuck"] == 3
    assert tally.dropped > 0
    assert "3 journeys started" in summary_lines(tally, plan.rate, arrivals_s, arrivals_s)[0]


async def test_a_continuous_run_reports_json_lines_until_stopped_then_sums_up() -> None:
    stop = asyncio.Event()
    records: list[dict[str, object]] = []

    async def browse(traffic: Traffic, shelf: Shelf) -> None:
        traffic.tally.request("GET /catalog/products", "200", 2.0, expected=True)

    def show(line: str) -> None:
        records.append(json.loads(line))
        if records[-1]["event"] == "load.progress" and len(records) >= 3:
            stop.set()

    report = Report(show, json_lines=True)
    plan = Plan(rate=200, duration_s=None, progress_every_s=0.05)
    async with httpx.AsyncClient() as http:
        traffic = Traffic(http, Tally())
        shelf = Shelf([], rng=random.Random(5))  # noqa: S311 - a traffic mix
        tally, arrivals_s = await run(traffic, shelf, {"browse": (browse, 1.0)}, plan, report, stop)
        report.summary(tally, plan.rate, arrivals_s, arrivals_s)
    progress = [r for r in records if r["event"] == "load.progress"]
    assert len(progress) == 3
    assert {"time", "level", "logger", "message", "requests", "orders", "p99_ms"} <= set(
        progress[-1]
    )
    summary = records[-1]
    assert summary["event"] == "load.summary"
    assert summary["requests"] == tally.requests > 0
    assert summary["operations"]["GET /catalog/products"]["failed"] == 0  # type: ignore[index]
