"""What a run shows: a progress snapshot every few seconds and a summary at the end, as text
lines for a person at a terminal (`make load`) or as JSON lines for a log pipeline (the load
generator in a pod, where nobody watches a terminal and logs are read by machines).

A JSON line has the fields of servicekit's log records (`time`, `level`, `logger`, `message`)
and the numbers themselves: `event` is `load.progress`, `load.summary` or `load.note`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from devstack.load.tally import Tally, percentile

__all__ = ["Progress", "Report", "progress"]


@dataclass(frozen=True)
class Progress:
    """The run so far: rates and latencies since the last snapshot, counts since the start."""

    elapsed_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    failed: int
    """Requests since the last snapshot with no answer or one not expected."""
    in_flight: int
    requests: int
    journeys: dict[str, int]
    orders: dict[str, int]
    """Final order status (or "still open", "refused") → how many, since the start."""
    dropped: int


def progress(tally: Tally, elapsed_s: float, window_s: float, in_flight: int) -> Progress:
    """A snapshot, taking the tally's window (the next snapshot's rates start afresh)."""
    window = tally.take_window()
    latencies = sorted(window.latencies_ms)
    return Progress(
        elapsed_s=elapsed_s,
        requests_per_s=len(latencies) / window_s if window_s > 0 else 0.0,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        failed=window.failures,
        in_flight=in_flight,
        requests=tally.requests,
        journeys=dict(sorted(tally.journeys.items())),
        orders=dict(sorted(tally.orders.items())),
        dropped=tally.dropped,
    )


@dataclass(frozen=True)
class Report:
    """Where a run's lines go (`out`), and in which form."""

    out: Callable[[str], None]
    json_lines: bool = False

    def note(self, message: str) -> None:
        self.out(_record("load.note", message) if self.json_lines else message)

    def progress(self, snapshot: Progress) -> None:
        if self.json_lines:
            message = f"{snapshot.requests} requests, orders: {_counts(snapshot.orders)}"
            self.out(_record("load.progress", message, **_numbers(asdict(snapshot))))
            return
        self.out(
            f"{snapshot.elapsed_s:6.0f}s  {snapshot.requests_per_s:6.1f} req/s"
            f"  p50 {snapshot.p50_ms:6.1f} ms  p99 {snapshot.p99_ms:7.1f} ms"
            f"  failed {snapshot.failed:<3d}  in flight {snapshot.in_flight:<4d}"
            f" orders: {_counts(snapshot.orders)}"
        )

    def summary(self, tally: Tally, rate: float, arrivals_s: float, elapsed_s: float) -> None:
        """The run in full: journeys, answers, each operation's latencies, orders."""
        if self.json_lines:
            self.out(_record("load.summary", "the run is over", **_summary(tally, arrivals_s)))
            return
        for line in summary_lines(tally, rate, arrivals_s, elapsed_s):
            self.out(line)


def summary_lines(tally: Tally, rate: float, arrivals_s: float, elapsed_s: float) -> list[str]:
    started = sum(tally.journeys.values())
    per_s = started / arrivals_s if arrivals_s > 0 else 0.0
    lines = [
        f"{started} journeys started in {arrivals_s:.0f} s ({per_s:.1f}/s of {rate:g}/s offered;"
        f" {tally.dropped} dropped), all done after {elapsed_s:.0f} s: "
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


def _summary(tally: Tally, arrivals_s: float) -> dict[str, Any]:
    final = sorted(tally.order_final_ms)
    operations = {
        operation: {
            "count": len(values),
            "shed": tally.shed[operation],
            "failed": tally.failures[operation],
            **{f"p{q}_ms": percentile(sorted(values), q) for q in (50, 95, 99, 100)},
        }
        for operation, values in sorted(tally.latencies_ms.items())
    }
    numbers: dict[str, Any] = _numbers(
        {
            "arrivals_s": arrivals_s,
            "journeys": dict(sorted(tally.journeys.items())),
            "dropped": tally.dropped,
            "requests": tally.requests,
            "answers": dict(sorted(tally.answers.items())),
            "operations": operations,
            "orders": dict(sorted(tally.orders.items())),
            "order_final_p50_ms": percentile(final, 50),
            "order_final_p99_ms": percentile(final, 99),
        }
    )
    return numbers


def _record(event: str, message: str, **fields: Any) -> str:
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    head = {"time": now, "level": "info", "logger": "devstack.load", "message": message}
    return json.dumps({**head, "event": event, **fields}, ensure_ascii=False)


def _numbers(value: Any) -> Any:
    """Rounded to 0.1, and NaN (no sample yet) as null: JSON has no NaN."""
    if isinstance(value, dict):
        return {key: _numbers(item) for key, item in value.items()}
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 1)
    return value


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{status} {count}" for status, count in counts.items()) or "-"
