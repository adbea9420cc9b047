"""HTTP scenarios, each printed as a ratio against its baseline measured in the same run:

1. servicekit's full HTTP stack (create_app + serve: tracing, metrics, JSON access log, request
   id, body limit, deadline, problem handlers) versus bare FastAPI under uvicorn, on the same
   trivial `GET /ping`;
2. an idempotent `POST` (Idempotency-Key, record in the handler's transaction) versus the same
   `POST` exempt from idempotency, both inserting one row — plus the statements each issues;
3. servicekit's ResilientClient versus a raw httpx.AsyncClient, calling the same downstream.

Servers run as their own processes (bench/http_servers.py); load comes from a minimal
keep-alive HTTP/1.1 client on asyncio streams, so the load generator costs little of the two
cores. Run by `make bench` against the bench stack's Postgres; `--profile dev-a` (any profile
whose Postgres runs) measures against another stack's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from devstack.process import free_port
from devstack.profiles import profile, profile_names
from devstack.stack import Stack
from servicekit.db.bootstrap import ensure_role_and_schema, role_spec
from servicekit.http.client import ResilientClient
from servicekit.http.policy import DownstreamPolicy

sys.path.insert(0, str(Path(__file__).parent))
import http_servers

CONCURRENCY = 16


@dataclass
class Measure:
    per_s: float
    p50_ms: float
    p99_ms: float


def _measure(latencies: list[float], elapsed: float) -> Measure:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Measure(len(latencies) / elapsed, cuts[49] * 1000, cuts[98] * 1000)


# -- the load generator ------------------------------------------------------------------------


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
    port: int, make_request: Callable[[], bytes], total: int, concurrency: int = CONCURRENCY
) -> Measure:
    """`total` requests over `concurrency` keep-alive connections; every answer must be 2xx."""
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
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

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return _measure(latencies, time.perf_counter() - started)


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


# -- servers -----------------------------------------------------------------------------------


@contextmanager
def server(*args: str) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own server script
        [
            sys.executable,
            str(Path(__file__).parent / "http_servers.py"),
            args[0],
            str(port),
            *args[1:],
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {args[0]} server did not start")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(30)


async def prepare_database(stack: Stack) -> str:
    stack.postgres.ensure_database(http_servers.SCHEMA)
    admin_url = stack.postgres.admin_dsn(http_servers.SCHEMA, driver="postgresql+asyncpg")
    password = secrets.token_hex(12)
    url = (
        f"postgresql+asyncpg://{http_servers.SCHEMA}:{password}@127.0.0.1:"
        f"{stack.postgres.port}/{http_servers.SCHEMA}"
    )
    settings = http_servers.stack_settings(8000, url)
    await ensure_role_and_schema(admin_url, role_spec(settings))
    engine = create_async_engine(
        url, poolclass=NullPool, connect_args={"server_settings": {"search_path": "bench_http"}}
    )
    async with engine.begin() as connection:
        await connection.run_sync(http_servers.metadata.drop_all)
        await connection.run_sync(http_servers.metadata.create_all)
    await engine.dispose()
    return url


# -- scenarios ---------------------------------------------------------------------------------


async def alternate(
    rounds: int, first: Callable[[], Awaitable[Measure]], second: Callable[[], Awaitable[Measure]]
) -> tuple[Measure, Measure]:
    """Run the two alternately, so drift on the machine hits both; keep each one's best round."""
    a: list[Measure] = []
    b: list[Measure] = []
    for _ in range(rounds):
        a.append(await first())
        b.append(await second())
    best = lambda ms: max(ms, key=lambda m: m.per_s)  # noqa: E731
    return best(a), best(b)


def report(title: str, names: tuple[str, str], ours: Measure, base: Measure) -> None:
    print(f"\n{title}")
    print(f"{'':22}{names[0]:>16}{names[1]:>16}{'ratio':>8}")
    print(f"{'requests/s':22}{ours.per_s:16,.0f}{base.per_s:16,.0f}{ours.per_s / base.per_s:8.2f}")
    print(f"{'p50 ms':22}{ours.p50_ms:16.2f}{base.p50_ms:16.2f}{ours.p50_ms / base.p50_ms:8.2f}")
    print(f"{'p99 ms':22}{ours.p99_ms:16.2f}{base.p99_ms:16.2f}{ours.p99_ms / base.p99_ms:8.2f}")


async def stack_versus_bare(database_url: str, requests: int, sampler_ratio: float) -> None:
    """`sampler_ratio`: the stack's OTEL_TRACES_SAMPLER_ARG (parentbased_traceidratio), which
    also decides which fast
    successes get an access log line (1: every request is traced and logged)."""
    stack = server("stack", database_url, str(sampler_ratio))
    with server("bare") as bare_port, stack as stack_port:
        await load(bare_port, get("/ping"), 500)
        await load(stack_port, get("/ping"), 500)
        ours, base = await alternate(
            3,
            lambda: load(stack_port, get("/ping"), requests),
            lambda: load(bare_port, get("/ping"), requests),
        )
    report(
        f"GET /ping, {requests} requests x 3 rounds over {CONCURRENCY} connections, "
        f"traces (and access lines of successes) sampled at {sampler_ratio:g}",
        ("servicekit", "bare FastAPI"),
        ours,
        base,
    )
    ratio = ours.per_s / base.per_s
    print(
        f"goal: the stack keeps >= 80 % of bare FastAPI's throughput: "
        f"{'met' if ratio >= 0.8 else 'NOT met'} ({ratio:.0%})"
    )


async def idempotent_versus_plain(database_url: str, requests: int) -> None:
    with server("stack", database_url) as port:
        await load(port, post_note("/notes", with_key=True), 300)
        await load(port, post_note("/plain-notes", with_key=False), 300)
        ours, base = await alternate(
            3,
            lambda: load(port, post_note("/notes", with_key=True), requests),
            lambda: load(port, post_note("/plain-notes", with_key=False), requests),
        )
    report(
        f"POST one row, {requests} requests x 3 rounds over {CONCURRENCY} connections",
        ("idempotent", "without"),
        ours,
        base,
    )
    with_key, without = await count_statements(database_url)
    print(
        f"statements per request: idempotent {with_key.total} ({with_key.in_transaction} in the "
        f"handler's transaction + {with_key.total - with_key.in_transaction} look-up before it), "
        f"without {without.total} ({without.in_transaction} in the transaction); connections "
        f"checked out: idempotent {with_key.checkouts}, without {without.checkouts}"
    )
    extra = with_key.in_transaction - without.in_transaction
    print(
        f"goal: at most one extra statement in the transaction: "
        f"{'met' if extra <= 1 else 'NOT met'} ({extra})"
    )


@dataclass
class Statements:
    total: int = 0
    in_transaction: int = 0
    checkouts: int = 0


async def count_statements(database_url: str) -> tuple[Statements, Statements]:
    """One request of each kind through the app in this process, counting what reaches Postgres
    (BEGIN/COMMIT are the same for both and not counted)."""
    from asgi_lifespan import LifespanManager

    from servicekit.app import create_app

    settings = http_servers.stack_settings(8000, database_url)
    app = create_app(settings, routers=[http_servers.stack_router()])
    logging.getLogger().setLevel(logging.WARNING)  # create_app configured JSON logs at INFO
    counts = {"/notes": Statements(), "/plain-notes": Statements()}
    current: list[Statements] = []

    def on_execute(conn: object, cursor: object, statement: str, *args: object) -> None:
        if current:
            current[0].total += 1
            # The key's look-up runs before the transaction (in autocommit).
            if "FROM idempotency_records" not in statement:
                current[0].in_transaction += 1

    def on_checkout(*args: object) -> None:
        if current:
            current[0].checkouts += 1

    engine = app.state.database.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", on_execute)
    sa_event.listen(engine.pool, "checkout", on_checkout)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for path in ("/notes", "/plain-notes"):
                for phase in ("warm-up", "counted"):
                    key = {"Idempotency-Key": str(uuid.uuid4())} if path == "/notes" else {}
                    current[:] = [counts[path]] if phase == "counted" else []
                    response = await client.post(path, json={"text": phase}, headers=key)
                    assert response.status_code == 201, response.text
            current.clear()
    return counts["/notes"], counts["/plain-notes"]


async def resilient_versus_raw(requests: int) -> None:
    with server("downstream") as port:
        base_url = f"http://127.0.0.1:{port}"
        counter = iter(range(10**9))
        resilient = ResilientClient("downstream", base_url, DownstreamPolicy())
        raw = httpx.AsyncClient(base_url=base_url, timeout=5)

        async def drive(call: Callable[[str], Awaitable[httpx.Response]]) -> Measure:
            latencies: list[float] = []

            async def worker(n: int) -> None:
                for _ in range(n):
                    started = time.perf_counter()
                    # Distinct URLs: single-flight must not merge the calls being measured.
                    response = await call(f"/ping?n={next(counter)}")
                    latencies.append(time.perf_counter() - started)
                    response.raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(worker(requests // CONCURRENCY) for _ in range(CONCURRENCY)))
            return _measure(latencies, time.perf_counter() - started)

        try:
            await drive(resilient.get)
            await drive(raw.get)
            ours, base = await alternate(3, lambda: drive(resilient.get), lambda: drive(raw.get))
        finally:
            await resilient.aclose()
            await raw.aclose()
    report(
        f"client GET, {requests} calls x 3 rounds, {CONCURRENCY} concurrent",
        ("ResilientClient", "raw httpx"),
        ours,
        base,
    )


async def run(requests: int, profile_name: str) -> None:
    stack = Stack(profile(profile_name))
    database_url = await prepare_database(stack)
    await stack_versus_bare(database_url, requests, sampler_ratio=1.0)
    await stack_versus_bare(database_url, requests, sampler_ratio=0.1)
    await idempotent_versus_plain(database_url, requests // 2)
    await resilient_versus_raw(requests // 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=6_000)
    parser.add_argument(
        "--profile",
        default="bench",
        choices=profile_names(),
        help="the stack whose Postgres the servers use (only its Postgres must run; "
        "default: bench, which `make bench` starts)",
    )
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.profile))


if __name__ == "__main__":
    main()
