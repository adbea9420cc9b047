"""Every service's footprint on the bench stack: how long it takes from start to ready, and its
resident memory (RSS) idle and under the order saga's load, each beside issue 15's target and
beside bare FastAPI under uvicorn (the floor any service of ours starts from).

1. Ready time: each service in turn is stopped and started again from its `serve` command,
   timed from the start of the process to the first `GET /readyz` that answers 200 (asked every
   20 ms). The baseline is bare FastAPI (bench/http_servers.py `bare`) timed to its first
   `GET /ping` 200.
2. Idle RSS: the highest RSS of each service's process tree over a few idle seconds right after
   that restart; the baseline is the bare server's.
3. Under load: the highest RSS over the saga at `--rate` orders/s for `--seconds` (placed through
   the gateway, as bench/saga.py does, until every order is final), sampled every 250 ms from
   its first order (the set-up's sign-ups and logins before it are not the saga's load).

Run by `make bench` against the bench stack (`--profile` for another stack). Restarting the
services is part of the measure, so it runs on a stack of its own, never on someone's `make up`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.devloop import require_running
from devstack.measure.memory import ResidentPeaks
from devstack.process import free_port
from devstack.profiles import profile
from devstack.stack import Stack

sys.path.insert(0, str(Path(__file__).parent))
from saga import open_shop

# Issue 15's targets for every service; its "MB" read as MiB (2**20 bytes), the unit of ps's
# RSS and of the charts' memory limits (384Mi).
READY_S = 3.0
IDLE_MB = 120.0
LOADED_MB = 200.0
IDLE_SECONDS = 3.0
POLL_S = 0.02
MB = 2**20


@dataclass
class Footprint:
    ready_s: float
    idle_mb: float
    loaded_mb: float | None = None


def restart_timed(stack: Stack, name: str) -> float:
    """Stop the service, start it again; seconds from its start to its first /readyz 200."""
    service = stack.service(name)
    service.stop()
    started = time.perf_counter()
    service.start(poll_s=POLL_S)
    return time.perf_counter() - started


async def idle_peaks(pids: dict[str, int]) -> dict[str, float]:
    peaks = ResidentPeaks(pids)
    async with peaks.sampling():
        await asyncio.sleep(IDLE_SECONDS)
    return {name: value / MB for name, value in peaks.peaks.items()}


async def bare_fastapi() -> Footprint:
    """The floor: bare FastAPI under uvicorn, timed to its first /ping 200, idle RSS."""
    port = free_port()
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).parent / "http_servers.py"),
        "bare",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=2) as client:
            while True:
                if process.returncode is not None or time.perf_counter() - started > 60:
                    raise RuntimeError("the bare FastAPI server did not start")
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/ping")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(POLL_S)
        ready_s = time.perf_counter() - started
        idle = await idle_peaks({"bare": process.pid})
        return Footprint(ready_s, idle["bare"])
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


def _pid(stack: Stack, name: str) -> int:
    pid = stack.service(name).pid()
    if pid is None:
        raise RuntimeError(f"{name} is not running: see {stack.service(name).log_file}")
    return pid


def running_stack(profile_name: str) -> Stack:
    stack = Stack(profile(profile_name))
    if stack.jaeger.is_running():
        # Started with observability: a restarted service must keep exporting its traces.
        stack = Stack(stack.profile, observability=True)
    require_running(stack)
    return stack


async def run(profile_name: str, rate: float, seconds: float) -> None:
    stack = running_stack(profile_name)
    names = stack.service_names
    baseline = await bare_fastapi()
    ready = {name: restart_timed(stack, name) for name in names}
    pids = {name: _pid(stack, name) for name in names}
    idle = await idle_peaks(pids)
    loaded = ResidentPeaks(pids)
    # Sampled from the saga's first order on, after the sign-ups and logins of the set-up:
    # identity's argon2id hashes hold up to its hashing budget (128 MiB) while they run, a
    # burst that belongs to logins, not to orders.
    async with open_shop(stack) as shoppers, loaded.sampling():
        result = await shoppers.measure(rate, seconds)
    footprints = {
        name: Footprint(ready[name], idle[name], loaded.peaks[name] / MB) for name in names
    }
    report(footprints, baseline, rate, seconds, f"{result.confirmed} of {result.orders} confirmed")


def report(
    footprints: dict[str, Footprint], baseline: Footprint, rate: float, seconds: float, saga: str
) -> None:
    print(
        f"\nservices: start -> /readyz 200, and RSS (process tree) idle and at its highest under "
        f"the saga at {rate:g} orders/s for {seconds:g} s ({saga}), beside bare FastAPI"
    )
    print(f"{'':16}{'ready s':>10}{'÷ bare':>8}{'idle MiB':>10}{'÷ bare':>8}{'saga MiB':>10}")
    for name, each in footprints.items():
        print(
            f"{name:16}{each.ready_s:10.2f}{each.ready_s / baseline.ready_s:8.1f}"
            f"{each.idle_mb:10.1f}{each.idle_mb / baseline.idle_mb:8.1f}{each.loaded_mb or 0:10.1f}"
        )
    print(f"{'bare FastAPI':16}{baseline.ready_s:10.2f}{'':8}{baseline.idle_mb:10.1f}")
    print(f"{'target':16}{READY_S:10.1f}{'':8}{IDLE_MB:10.0f}{'':8}{LOADED_MB:10.0f}")
    goals = [
        (f"ready <= {READY_S:g} s after start", "ready_s", READY_S, "s"),
        (f"RSS <= {IDLE_MB:g} MiB idle", "idle_mb", IDLE_MB, "MiB"),
        (f"RSS <= {LOADED_MB:g} MiB under the saga", "loaded_mb", LOADED_MB, "MiB"),
    ]
    for what, field, limit, unit in goals:
        values = {name: getattr(each, field) or 0.0 for name, each in footprints.items()}
        worst = max(values, key=values.__getitem__)
        met = values[worst] <= limit
        print(
            f"goal: every service {what}: {'met' if met else 'NOT met'} "
            f"(highest: {worst} {values[worst]:.1f} {unit})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="bench", help="the running stack to measure")
    parser.add_argument("--rate", type=float, default=20, help="the saga's orders/s under load")
    parser.add_argument("--seconds", type=float, default=20, help="how long orders are placed")
    args = parser.parse_args()
    asyncio.run(run(args.profile, args.rate, args.seconds))


if __name__ == "__main__":
    main()
