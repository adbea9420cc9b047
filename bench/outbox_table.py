"""The outbox table over time: the relay's read of a batch while events flow through it, with
sent rows deleted (the relay now) beside sent rows marked and kept 24 h (the relay before
2026-12-06), on the bench stack's Postgres under its own autovacuum.

Two schemas get servicekit's event tables. The kept one starts as a day's retention leaves it
between two autovacuums: `--kept` rows sent and vacuumed, then `--since-vacuum` more sent since
(autovacuum visits a table once a fifth of it changed; 600,000 rows are 83 minutes of orders'
events at 60 orders/s). Then, for `--seconds`, `--rate` events a second go through each table
as the relay handles them: appended (one transaction), read as a batch and deleted with the
relay's own statements (its private constants, imported), or marked sent as it used to. Every
`--every` seconds it prints each table's median read, its dead rows and autovacuum runs so far,
and the ratio kept ÷ deleted.

Run by `make bench` against the bench stack.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from devstack.profiles import profile
from devstack.stack import Stack
from servicekit.db.models import new_metadata
from servicekit.events.relay import _DELETE_PUBLISHED, _UNPUBLISHED, RelaySettings
from servicekit.events.tables import add_event_tables

DATABASE = "bench_outbox"
BATCH_SIZE = RelaySettings().batch_size
_APPEND = text(
    "INSERT INTO outbox (event_id, event_type, topic, key, headers, payload) "
    "SELECT 'evt_' || g || '_' || :tag, 'bench.thing.happened.v1', 'bench.thing', 'k' || g, "
    "'{}'::jsonb, '\\x7b7d'::bytea FROM generate_series(1, :count) AS g"
)
_MARK_SENT = text("UPDATE outbox SET published_at = now() WHERE id = ANY(:ids)")
_MARK_ALL_SENT = text("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
# The earlier relay's table read its batches through these (the outbox has had neither since
# 2026-12-07: servicekit.events.tables.drop_outbox_publication_indexes).
_PUBLICATION_INDEXES = (
    text("CREATE INDEX ix_outbox_unpublished ON outbox (id) WHERE published_at IS NULL"),
    text("CREATE INDEX ix_outbox_published_at ON outbox (published_at)"),
)
_TABLE_STATE = text(
    "SELECT n_dead_tup, autovacuum_count FROM pg_stat_user_tables "
    "WHERE schemaname = :schema AND relname = 'outbox'"
)


@dataclass
class Design:
    """One way of treating a sent row, with the reads it has seen this window."""

    schema: str
    keeps_rows: bool
    reads_ms: list[float] = field(default_factory=list)

    async def relay_once(self, connection: AsyncConnection, count: int, tag: str) -> None:
        """What the relay's round costs the table: commit `count` rows, read, take them out."""
        await connection.execute(_APPEND, {"count": count, "tag": tag})
        started = time.perf_counter()
        rows = (await _UNPUBLISHED.run(connection, {"batch_size": BATCH_SIZE})).all()
        self.reads_ms.append((time.perf_counter() - started) * 1000)
        ids = [row.id for row in rows]
        if self.keeps_rows:
            await connection.execute(_MARK_SENT, {"ids": ids})
        else:
            await _DELETE_PUBLISHED.run(connection, {"sent": ids})


async def _prepare(engine: AsyncEngine, design: Design, kept: int, since_vacuum: int) -> None:
    metadata = new_metadata()
    add_event_tables(metadata)
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f"DROP SCHEMA IF EXISTS {design.schema} CASCADE"))
        await connection.execute(text(f"CREATE SCHEMA {design.schema}"))
        await connection.execute(text(f"SET search_path TO {design.schema}"))
        await connection.run_sync(metadata.create_all)
        if design.keeps_rows:
            for index in _PUBLICATION_INDEXES:
                await connection.execute(index)
        if design.keeps_rows and kept:
            await connection.execute(_APPEND, {"count": kept, "tag": "kept"})
            await connection.execute(_MARK_ALL_SENT)
        await connection.execute(text("VACUUM ANALYZE outbox"))
        if design.keeps_rows and since_vacuum:
            await connection.execute(_APPEND, {"count": since_vacuum, "tag": "since"})
            await connection.execute(_MARK_ALL_SENT)


async def _state(connection: AsyncConnection, schema: str) -> tuple[int, int]:
    row = (await connection.execute(_TABLE_STATE, {"schema": schema})).one()
    return int(row.n_dead_tup), int(row.autovacuum_count)


async def run(
    *,
    rate: float,
    seconds: float,
    every: float,
    kept: int,
    since_vacuum: int,
    profile_name: str = "bench",
) -> None:
    stack = Stack(profile(profile_name))
    if not stack.postgres.is_running():
        raise SystemExit("the bench stack is not running: use `make bench`")
    stack.postgres.ensure_database(DATABASE)
    engine = create_async_engine(stack.postgres.admin_dsn(DATABASE, driver="postgresql+asyncpg"))
    designs = [Design("outbox_kept", keeps_rows=True), Design("outbox_deleted", keeps_rows=False)]
    print(
        f"\noutbox table: {rate:g} events/s for {seconds:g} s; the kept table starts with "
        f"{kept:,} rows sent and vacuumed and {since_vacuum:,} sent since"
    )
    for design in designs:
        await _prepare(engine, design, kept, since_vacuum)
    per_round = max(1, round(rate / 20))  # 20 relay rounds a second, as under load
    interval = per_round / rate
    print(f"{'t s':>5}  {'kept: read ms p50, dead, vacuums':>34}  {'deleted: the same':>30}  ratio")
    try:
        connections = [await engine.connect() for _ in designs]
        for design, connection in zip(designs, connections, strict=True):
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f"SET search_path TO {design.schema}"))
        started = time.perf_counter()
        next_report = every
        rounds = 0
        while (elapsed := time.perf_counter() - started) < seconds:
            for design, connection in zip(designs, connections, strict=True):
                await design.relay_once(connection, per_round, f"{rounds}")
            rounds += 1
            if elapsed >= next_report:
                cells = []
                for design, connection in zip(designs, connections, strict=True):
                    dead, vacuums = await _state(connection, design.schema)
                    median = statistics.median(design.reads_ms)
                    cells.append((median, f"{median:8.3f} {dead:>10,} {vacuums:>5}"))
                    design.reads_ms.clear()
                ratio = cells[0][0] / cells[1][0]
                print(f"{elapsed:5.0f}  {cells[0][1]:>34}  {cells[1][1]:>30}  {ratio:5.1f}")
                next_report += every
            await asyncio.sleep(max(0.0, started + rounds * interval - time.perf_counter()))
        for connection in connections:
            await connection.close()
    finally:
        await engine.dispose()
    print(
        "kept: sent rows marked and kept 24 h (the relay before 2026-12-06); deleted: sent "
        "rows deleted (the relay now). Ratio: kept's median read ÷ deleted's."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=120.0, help="events a second")
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--every", type=float, default=15.0)
    parser.add_argument("--kept", type=int, default=600_000)
    parser.add_argument("--since-vacuum", type=int, default=100_000)
    parser.add_argument(
        "--profile", default="bench", help="the running stack to measure on (make bench's)"
    )
    args = parser.parse_args()
    asyncio.run(
        run(
            rate=args.rate,
            seconds=args.seconds,
            every=args.every,
            kept=args.kept,
            since_vacuum=args.since_vacuum,
            profile_name=args.profile,
        )
    )


if __name__ == "__main__":
    main()
