"""pgbench, Postgres' own load tool, as the floor under a benchmark of our database path: the
same statements sent straight to the same Postgres at the same concurrency, with no HTTP, no
SQLAlchemy and no Python on the way.

`run()` runs a custom script (`-f`; `-n`: there are no pgbench tables to vacuum) with prepared
statements (`-M prepared`, as asyncpg prepares its statements) for a fixed number of
transactions per client, logging each transaction's latency (`-l`). It returns pgbench's own
throughput *without* the initial connection time (a service's pool is warm, so connecting and
authenticating are not part of its requests either) and the logged latencies. pgbench ships
with Debian's postgresql-15 package, next to the server devstack runs
(`devstack.toolchain`, tool `pgbench`).
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PgbenchError",
    "PgbenchResult",
    "PgbenchTarget",
    "command",
    "parse_latencies",
    "parse_summary",
    "run",
]

_PROCESSED = re.compile(r"^number of transactions actually processed: (\d+)(?:/(\d+))?", re.M)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)
_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.M)


class PgbenchError(RuntimeError):
    """pgbench failed, or reported failed or missing transactions; the message has its output."""


@dataclass(frozen=True)
class PgbenchTarget:
    host: str
    port: int
    user: str
    password: str
    database: str


@dataclass(frozen=True)
class PgbenchResult:
    transactions: int
    per_s: float
    latencies_s: list[float]


def command(
    pgbench: Path,
    target: PgbenchTarget,
    script: Path,
    *,
    clients: int,
    transactions: int,
    log_prefix: Path,
    jobs: int | None = None,
) -> list[str]:
    """The argv for `transactions` in all (rounded up to a whole number per client) over
    `clients` connections, driven by `jobs` threads (one per core by default)."""
    if clients < 1 or transactions < 1:
        raise ValueError(
            f"clients and transactions must be positive, not {clients} and {transactions}"
        )
    threads = jobs or min(clients, os.cpu_count() or 1)
    while clients % threads:  # pgbench wants the clients spread evenly over its threads
        threads -= 1
    return [
        str(pgbench),
        f"--host={target.host}",
        f"--port={target.port}",
        f"--username={target.user}",
        "--no-vacuum",
        "--protocol=prepared",
        f"--client={clients}",
        f"--jobs={threads}",
        f"--transactions={math.ceil(transactions / clients)}",
        f"--file={script}",
        "--log",
        f"--log-prefix={log_prefix}",
        target.database,
    ]


def parse_summary(output: str) -> tuple[int, float]:
    """The transactions processed and the throughput (per second, without the initial
    connection time) from pgbench's report; a run with a failed or missing transaction is an
    error, not a figure."""
    processed = _PROCESSED.search(output)
    tps = _TPS.search(output)
    if processed is None or tps is None:
        raise PgbenchError(f"pgbench printed no summary:\n{output.strip()}")
    done, planned = int(processed.group(1)), processed.group(2)
    failed = _FAILED.search(output)
    if (planned is not None and done != int(planned)) or (failed and int(failed.group(1))):
        raise PgbenchError(f"pgbench did not complete every transaction:\n{output.strip()}")
    return done, float(tps.group(1))


def parse_latencies(lines: Iterable[str]) -> list[float]:
    """Seconds per transaction from pgbench's per-transaction log (`-l`): fields are client,
    transaction number, latency in microseconds, script number, epoch seconds and
    microseconds. A failed transaction has a word in place of its latency and is left out
    (parse_summary has already refused a run with failures)."""
    latencies = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[2].isdigit():
            latencies.append(int(fields[2]) / 1_000_000)
    return latencies


async def run(
    pgbench: Path,
    target: PgbenchTarget,
    script: str,
    *,
    clients: int,
    transactions: int,
    timeout_s: float = 300.0,
) -> PgbenchResult:
    """Run `script` (pgbench's script language: SQL statements, `\\set` and the like)."""
    with tempfile.TemporaryDirectory(prefix="pgbench-") as folder:
        script_file = Path(folder) / "script.sql"
        script_file.write_text(script)
        argv = command(
            pgbench,
            target,
            script_file,
            clients=clients,
            transactions=transactions,
            log_prefix=Path(folder) / "log",
        )
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=folder,
            env={**os.environ, "PGPASSWORD": target.password, "PGAPPNAME": "pgbench"},
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise PgbenchError(f"pgbench did not finish within {timeout_s:g} s") from None
        text = output.decode(errors="replace")
        if process.returncode != 0:
            raise PgbenchError(f"pgbench exited with {process.returncode}:\n{text.strip()}")
        done, per_s = parse_summary(text)
        latencies: list[float] = []
        for log in sorted(Path(folder).glob("log.*")):
            latencies.extend(parse_latencies(log.read_text().splitlines()))
        return PgbenchResult(done, per_s, latencies)
