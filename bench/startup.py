"""Where a service's start-up goes: each service restarted from its `serve` command, its
start -> /readyz 200 split into phases read from its own log lines, beside bare FastAPI
started in the same run (the machine's load moves every figure; the ratio moves less).

    start ──imports+settings──▶ "app built" (build_s) ──server+lifespan──▶ "service started"
          (hooks_s: each lifespan hook) ──▶ first /readyz 200 (every check passes: the
          database's first connection, the consumer started, the broker answering)

"event consumer started" (a background task of the lifespan) is shown from the start too: the
`kafka` readiness check passes only once it has been logged.

    .venv/bin/python bench/startup.py --profile dev-c --services orders catalog --runs 3

Restarting services is part of the measure: run it on a stack of your own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from devstack.stack import Stack

sys.path.insert(0, str(Path(__file__).parent))
from services import POLL_S, bare_fastapi, running_stack


@dataclass
class Phases:
    """Seconds from the process's start, or spent in a phase, for one restart."""

    imports_s: float  # the interpreter, imports and settings, until the build starts
    build_s: float  # ServiceApp.build_app
    lifespan_s: float  # uvicorn's start and the lifespan's hooks, until "service started"
    consumer_started_s: float | None  # from the start, when the service consumes
    ready_s: float  # from the start to the first /readyz 200
    hooks_s: dict[str, float] = field(default_factory=dict)


def restart(stack: Stack, name: str) -> Phases:
    service = stack.service(name)
    service.stop()
    offset = service.log_file.stat().st_size if service.log_file.exists() else 0
    started_at = time.time()
    started = time.perf_counter()
    service.start(poll_s=POLL_S)
    ready_s = time.perf_counter() - started
    with service.log_file.open("rb") as log:
        log.seek(offset)
        lines = [_parse(line) for line in log]
    return _phases(name, [line for line in lines if line], started_at, ready_s)


def _parse(line: bytes) -> dict[str, object] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _phases(name: str, lines: list[dict[str, object]], started_at: float, ready_s: float) -> Phases:
    def first(message: str) -> dict[str, object] | None:
        return next((line for line in lines if line.get("message") == message), None)

    def at(line: dict[str, object]) -> float:
        return datetime.fromisoformat(str(line["time"])).timestamp() - started_at

    built, serving = first("app built"), first("service started")
    if built is None or serving is None:
        raise RuntimeError(f"{name}: no 'app built' / 'service started' line in its log")
    build_s = float(str(built["build_s"]))
    consumer = first("event consumer started")
    hooks = serving.get("hooks_s")
    return Phases(
        imports_s=at(built) - build_s,
        build_s=build_s,
        lifespan_s=at(serving) - at(built),
        consumer_started_s=at(consumer) if consumer else None,
        ready_s=ready_s,
        hooks_s=dict(hooks) if isinstance(hooks, dict) else {},
    )


def _median(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def report(runs: dict[str, list[Phases]], bare_s: float) -> None:
    print(f"\nstart-up phases, median of {len(next(iter(runs.values())))} restarts (seconds)")
    print(
        f"{'':14}{'imports':>9}{'build':>8}{'server+lifespan':>16}{'consumer':>10}{'ready':>8}"
        f"{'÷ bare':>8}  slowest hooks"
    )
    for name, phases in runs.items():
        ready = _median([each.ready_s for each in phases]) or 0.0
        consumer = _median([each.consumer_started_s for each in phases])
        hooks = {
            hook: _median([each.hooks_s.get(hook) for each in phases]) for hook in phases[0].hooks_s
        }
        slowest = sorted(hooks.items(), key=lambda item: -(item[1] or 0))[:2]
        consumer_column = f"{consumer:10.2f}" if consumer is not None else f"{'-':>10}"
        print(
            f"{name:14}{_median([e.imports_s for e in phases]):9.2f}"
            f"{_median([e.build_s for e in phases]):8.2f}"
            f"{_median([e.lifespan_s for e in phases]):16.2f}{consumer_column}"
            f"{ready:8.2f}{ready / bare_s:8.1f}  "
            + ", ".join(f"{hook} {seconds:.2f}" for hook, seconds in slowest if seconds)
        )
    print(f"{'bare FastAPI':14}{'':51}{bare_s:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="bench", help="the running stack to measure")
    parser.add_argument("--services", nargs="*", help="default: every service")
    parser.add_argument("--runs", type=int, default=3, help="restarts per service")
    args = parser.parse_args()
    stack = running_stack(args.profile)
    names = args.services or stack.service_names
    unknown = sorted(set(names) - set(stack.service_names))
    if unknown:
        parser.error(
            f"no such service: {', '.join(unknown)} (these: {', '.join(stack.service_names)})"
        )
    runs: dict[str, list[Phases]] = {name: [] for name in names}
    bare: list[float] = []
    for _ in range(args.runs):  # interleaved, so a burst of load spreads over every service
        bare.append(asyncio.run(bare_fastapi()).ready_s)
        for name in names:
            runs[name].append(restart(stack, name))
    report(runs, statistics.median(bare))


if __name__ == "__main__":
    main()
