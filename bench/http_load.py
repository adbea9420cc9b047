"""The HTTP benchmarks' load generator, servers and table, shared by bench/http_stack.py.

Load comes from a minimal keep-alive HTTP/1.1 client on asyncio streams, so the load generator
costs little of the two cores. Servers run as their own processes (bench/http_servers.py); a
run also reads the server process' CPU time, so the table says what a request cost the server
(steadier than its throughput on a machine whose other work comes and goes).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.process import free_port

CONCURRENCY = 16


@dataclass
class Measure:
    per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us: float | None = None
    """The server process' CPU (user + system) per request, when the run read it."""


@dataclass(frozen=True)
class Served:
    """A server process of bench/http_servers.py: where to send requests, and whose CPU to read."""

    port: int
    pid: int

    def cpu_s(self) -> float:
        """The CPU time the process' threads have run so far, to the nanosecond (Linux's
        schedstat; /proc's user and system times count in 10 ms ticks, too coarse for a round
        of a few thousand requests)."""
        run_ns = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                run_ns += int((task / "schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):  # a thread that just ended
                continue
        return run_ns / 1e9


def measure_of(latencies: list[float], elapsed: float) -> Measure:
    """`latencies` in seconds, over a run of `elapsed` seconds."""
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Measure(len(latencies) / elapsed, cuts[49] * 1000, cuts[98] * 1000)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def load(
    served: Served, make_request: Callable[[], bytes], total: int, concurrency: int = CONCURRENCY
) -> Measure:
    """`total` requests over `concurrency` keep-alive connections; every answer must be 2xx."""
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        try:
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                status = await _exchange(reader, writer, make_request())
                latencies.append(time.perf_counter() - started)
                if not 200 <= status < 300:
                    raise RuntimeError(f"the server answered {status}")
        finally:
            writer.close()
            await writer.wait_closed()

    cpu_before = served.cpu_s()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    measure = measure_of(latencies, time.perf_counter() - started)
    return dataclasses.replace(measure, cpu_us=(served.cpu_s() - cpu_before) / total * 1e6)


def get(path: str) -> Callable[[], bytes]:
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    return lambda: request


def post_note(path: str, *, with_key: bool) -> Callable[[], bytes]:
    def make() -> bytes:
        body = json.dumps({"text": secrets.token_hex(8)}).encode()
        key = f"Idempotency-Key: {uuid.uuid4()}\r\n" if with_key else ""
        return (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{key}\r\n"
        ).encode() + body

    return make


@contextmanager
def server(*args: str) -> Iterator[Served]:
    """One of bench/http_servers.py's servers on a free port, once its `/ping` answers."""
    port = free_port()
    # What a server that fails to start says, shown then.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # noqa: S603 - our own server script
            [
                sys.executable,
                str(Path(__file__).parent / "http_servers.py"),
                args[0],
                str(port),
                *args[1:],
            ],
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    errors.seek(0)
                    said = errors.read().decode(errors="replace")[-4000:]
                    raise RuntimeError(f"the {args[0]} server did not start:\n{said}")
                time.sleep(0.1)
            yield Served(port, process.pid)
        finally:
            process.terminate()
            process.wait(30)


async def alternate(rounds: int, *runs: Callable[[], Awaitable[Measure]]) -> list[Measure]:
    """Run each in turn, `rounds` times, so drift on the machine hits all of them; keep each
    one's best round."""
    results: list[list[Measure]] = [[] for _ in runs]
    for _ in range(rounds):
        for run, measures in zip(runs, results, strict=True):
            measures.append(await run())
    return [max(measures, key=lambda m: m.per_s) for measures in results]


def report(title: str, columns: Sequence[tuple[str, Measure]]) -> None:
    """A table of the measures, the first one ours, with its ratio to each of the others."""
    (_, ours), others = columns[0], columns[1:]
    ratio_names = ["ratio"] if len(others) == 1 else [f"÷ {name}" for name, _ in others]
    print(f"\n{title}")
    print(
        f"{'':14}"
        + "".join(f"{name:>16}" for name, _ in columns)
        + "".join(f"{name:>16}" for name in ratio_names)
    )
    rows: list[tuple[str, Callable[[Measure], float], str]] = [
        ("requests/s", lambda m: m.per_s, "16,.0f"),
        ("p50 ms", lambda m: m.p50_ms, "16.2f"),
        ("p99 ms", lambda m: m.p99_ms, "16.2f"),
    ]
    if all(m.cpu_us is not None for _, m in columns):
        rows.append(("server CPU µs", lambda m: m.cpu_us or 0.0, "16.1f"))
    for label, value, form in rows:
        print(
            f"{label:14}"
            + "".join(format(value(m), form) for _, m in columns)
            + "".join(f"{value(ours) / value(m):16.2f}" for _, m in others)
        )
