"""What a run of the order saga bench (bench/saga.py) measured, and what it prints: each
step's latencies from POST to confirmed and its two hops beside the POST alone, the orders/s
completed, the CPU an order cost the platform and what that leaves this machine; the highest
rate that kept up; and for the minute held at the goal's rate, issue 15's bar — or, when that
rate was not reached, where the CPU went and what the goal's rate would need of these cores.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field


@dataclass
class Result:
    """One step of the bench: the orders placed at `rate`, and what became of them."""

    rate: float
    orders: int
    confirmed: int
    completed_per_s: float
    refused: int = 0
    held_back: int = 0
    """Orders not sent because the platform was already `backlog_s` of orders behind."""
    backlog_s: float = 0.0
    """How far behind the load let the platform fall before it held orders back."""
    end_to_end_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    post_offsets_s: list[float] = field(default_factory=list)
    """When each of `post_ms` was sent, in seconds from the run's first POST."""
    reserve_ms: list[float] = field(default_factory=list)
    pay_ms: list[float] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds each component used while the orders were placed (when measured)."""
    placing_s: float = 0.0
    """How long placing the orders took, from the first POST sent to the last answer."""

    @property
    def sent(self) -> int:
        """Orders placed: their POST sent (all of them, unless the platform fell far behind)."""
        return self.orders - self.held_back

    @property
    def kept_up(self) -> bool:
        return self.confirmed == self.orders and self.completed_per_s >= 0.95 * self.rate


def _cut(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _p99(values: list[float]) -> float:
    """Infinite when there are too few values to say."""
    return _cut(values, 99) if len(values) >= 2 else float("inf")


LOAD = "this load"
"""The bench's own process, placing the orders: on the same cores as everything it measures."""


def _platform_cpu_s(result: Result) -> dict[str, float]:
    return {name: used for name, used in result.cpu_s.items() if name != LOAD}


def _cores_busy(result: Result) -> float:
    total = sum(_platform_cpu_s(result).values())
    return total / result.placing_s if result.placing_s > 0 else 0.0


def _ms_an_order(result: Result) -> float:
    return sum(_platform_cpu_s(result).values()) * 1000 / result.sent


def _cores_run_out_at(result: Result) -> float:
    """The rate at which this machine's cores would all be busy at this step's CPU an order:
    a bound on the rate that keeps up (an order costs less as batches fill, more as the
    cores' run queues grow)."""
    return (os.cpu_count() or 1) * 1000 / _ms_an_order(result)


def report_capacity(result: Result) -> None:
    """One line: what an order cost the platform's CPU, and what that leaves this machine."""
    if not result.cpu_s or not result.sent:
        return
    line = (
        f"CPU: {_ms_an_order(result):.1f} ms an order, {_cores_busy(result):.2f} of this "
        f"machine's {os.cpu_count()} cores busy"
    )
    if result.kept_up:
        line += f"; at that cost its cores would be full at about {_cores_run_out_at(result):.0f}/s"
    print(line)


def report_cpu(result: Result) -> None:
    """Where the CPU went while the orders were placed, per order, heaviest first."""
    if not result.cpu_s or not result.sent:
        return
    ours = _platform_cpu_s(result)
    total = sum(ours.values())
    print(
        f"CPU per order placed, ms (each process tree, from /proc over the {result.placing_s:.0f}"
        f" s of placing at {result.rate:g}/s; {_cores_busy(result):.2f} of this machine's "
        f"{os.cpu_count()} cores busy):"
    )
    for name, used in sorted(ours.items(), key=lambda item: -item[1]):
        print(f"  {name:14}{used * 1000 / result.sent:8.2f}")
    print(f"  {'total':14}{total * 1000 / result.sent:8.2f}")
    print(f"  {LOAD:14}{result.cpu_s[LOAD] * 1000 / result.sent:8.2f}  (the bench, not counted)")


def report(result: Result, seconds: float) -> None:
    print(
        f"\norder saga at {result.rate:g} orders/s for {seconds:g} s "
        f"({result.orders} orders, {result.confirmed} confirmed"
        + (f", {result.refused} POSTs refused" if result.refused else "")
        + (
            f", {result.held_back} not sent: the platform was {result.backlog_s:g} s of "
            "orders behind"
            if result.held_back
            else ""
        )
        + ")"
    )
    print(f"{'':26}{'p50 ms':>10}{'p99 ms':>10}")
    rows = [
        ("POST → confirmed", result.end_to_end_ms),
        ("  POST → stock reserved", result.reserve_ms),
        ("  reserved → confirmed", result.pay_ms),
        ("POST alone (baseline)", result.post_ms),
    ]
    for name, values in rows:
        if len(values) >= 2:
            print(f"{name:26}{_cut(values, 50):10.1f}{_cut(values, 99):10.1f}")
    if len(result.end_to_end_ms) >= 2 and len(result.post_ms) >= 2:
        ratio50 = _cut(result.end_to_end_ms, 50) / _cut(result.post_ms, 50)
        ratio99 = _cut(result.end_to_end_ms, 99) / _cut(result.post_ms, 99)
        print(f"{'ratio to the POST':26}{ratio50:10.1f}{ratio99:10.1f}")
    print(
        f"completed end to end: {result.completed_per_s:.1f} orders/s of {result.rate:g} "
        f"offered ({'kept up' if result.kept_up else 'fell behind'})"
    )
    report_capacity(result)


GOAL_P99_MS = 1000.0
"""Issue 15: every order final, p99 from POST to final under a second..."""
GOAL_POST_P99_MS = 50.0
"""...and the POST alone answered within 50 ms at p99, at the goal's rate."""


def report_reached(
    results: list[Result],
    highest_tried: float,
    goal_rate: float,
    hold_s: float,
    held: Result | None,
) -> None:
    """The highest rate that kept up within the goal's latency, and the goal's verdict."""
    # Kept up within the goal's latency: every order confirmed, the rate completed, p99 < 1 s.
    kept = [r for r in results if r.kept_up and _p99(r.end_to_end_ms) < GOAL_P99_MS]
    best = max(kept, key=lambda r: r.rate) if kept else None
    last = results[-1]
    if best is None:
        print(f"\nreached: the saga fell behind already at {results[0].rate:g} orders/s")
    else:
        print(
            f"\nreached: {best.completed_per_s:.1f} orders/s completed end to end at "
            f"{best.rate:g} offered, every order confirmed, p50 "
            f"{_cut(best.end_to_end_ms, 50):.0f} ms and p99 {_p99(best.end_to_end_ms):.0f} "
            f"ms from POST to confirmed (all six services, Postgres and Kafka on this machine)"
            + (
                f"; {highest_tried:g} was the highest rate tried"
                if best is last
                else f"; at {last.rate:g} offered: {last.completed_per_s:.1f}/s completed, "
                f"p99 {_p99(last.end_to_end_ms):.0f} ms"
            )
        )
    if held is not None:
        _goals(held, hold_s)
    elif hold_s > 0:
        print(f"goal: not judged: the saga did not reach the goal's rate, {goal_rate:g}/s")
        if best is not None:
            _machine_short_of(best, goal_rate)


def _machine_short_of(best: Result, goal_rate: float) -> None:
    """Why the goal's rate was not reached, in this machine's terms: where the CPU went at the
    highest step that kept up, and what the goal's rate would need of these cores."""
    report_cpu(best)
    print(
        f"at {best.rate:g}/s an order cost the platform {_ms_an_order(best):.1f} ms of CPU, at "
        f"which this machine's cores would be full at about {_cores_run_out_at(best):.0f}/s; "
        f"{goal_rate:g}/s on {os.cpu_count()} cores needs at most "
        f"{(os.cpu_count() or 1) * 1000 / goal_rate:.1f} ms an order"
    )


def _goals(held: Result, seconds: float) -> None:
    """Issue 15's bar for the saga, judged on the run held at the goal's rate."""
    p99 = _p99(held.end_to_end_ms)
    post_p99 = _p99(held.post_ms)
    saga_met = held.kept_up and p99 < GOAL_P99_MS
    print(
        f"goal: {held.rate:g} orders/s offered for {seconds:g} s kept up, every order final, "
        f"p99 POST → confirmed < {GOAL_P99_MS:.0f} ms: {'met' if saga_met else 'NOT met'} "
        f"({held.completed_per_s:.1f} orders/s, {held.confirmed} of {held.orders} confirmed, "
        f"p99 {p99:.0f} ms)"
    )
    post_met = post_p99 < GOAL_POST_P99_MS
    print(
        f"goal: POST /orders p99 < {GOAL_POST_P99_MS:.0f} ms at {held.rate:g}/s: "
        f"{'met' if post_met else 'NOT met'} ({post_p99:.0f} ms)"
    )
    print(
        f"  POSTs over {GOAL_POST_P99_MS:.0f} ms in each {SLICE_S:g} s of the run (p99 allows "
        f"{len(held.post_ms) // 100} in all): {' '.join(map(str, _slow_posts_per_slice(held)))}"
    )


SLICE_S = 10.0


def _slow_posts_per_slice(result: Result) -> list[int]:
    """How many POSTs over the goal's 50 ms were sent in each `SLICE_S` of the run: whether
    the tail is spread over the run or gathered in a stretch of it."""
    counts = [0] * (int(max(result.post_offsets_s, default=0.0) // SLICE_S) + 1)
    for offset, ms in zip(result.post_offsets_s, result.post_ms, strict=True):
        if ms > GOAL_POST_P99_MS:
            counts[int(offset // SLICE_S)] += 1
    return counts
