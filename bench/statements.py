"""A consumer's transaction with its statements run on the driver (servicekit.db.direct) beside
the same statements through `AsyncSession.execute`, in one process, on the bench stack's
Postgres.

The transaction is what a saga step does for one event: the inbox's claim, a row read and
locked, its update, the outbox's append — servicekit's own claim and append statements, and a
read and an update of a table of this bench's own — begun and committed by
`Database.transaction()`. Rounds alternate between the two ways; each round runs `--count`
transactions and reads this process' CPU time (its client side: Postgres' is the same SQL
either way). The best round of each way is kept; the ratio is session ÷ direct (above 1: the
direct way costs less). One lone statement (the indexed read) is timed the same way.

Run by `make bench` against the bench stack.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, MetaData, String, Table, bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from contracts.base import Event
from devstack.profiles import profile
from devstack.stack import Stack
from servicekit.db import Database, DirectStatement, direct
from servicekit.events.envelope import EventEnvelope
from servicekit.events.inbox import _CLAIM
from servicekit.events.outbox import _APPEND, Outbox
from servicekit.events.tables import add_event_tables
from servicekit.ids import new_id
from servicekit.testing.events import ThingHappened

DATABASE = "bench_statements"
SCHEMA = "bench_statements"

_metadata = MetaData()
add_event_tables(_metadata)
_things = Table(
    "things",
    _metadata,
    Column("id", String(40), primary_key=True),
    Column("count", BigInteger, nullable=False),
)
_LOCK = direct(select(_things).where(_things.c.id == bindparam("thing_id")).with_for_update())
_BUMP = direct(
    update(_things)
    .where(_things.c.id == bindparam("thing_id"))
    .values(count=_things.c.count + bindparam("by", type_=BigInteger))
)
_READ = direct(select(_things).where(_things.c.id == bindparam("thing_id")))

Runner = Callable[[AsyncSession, DirectStatement, dict[str, object]], Awaitable[object]]


async def _on_the_session(
    session: AsyncSession, statement: DirectStatement, values: dict[str, object]
) -> object:
    result = await session.execute(statement.statement, values)
    return result.all() if result.returns_rows else result.rowcount  # type: ignore[attr-defined]


async def _on_the_driver(
    session: AsyncSession, statement: DirectStatement, values: dict[str, object]
) -> object:
    return (await statement.run(session, values)).all()


async def _consumer_transaction(database: Database, run: Runner, outbox: Outbox) -> None:
    event_id = new_id("evt")
    event = ThingHappened(thing_id="t1", sequence=0)
    [envelope] = outbox.envelopes_for([event])
    async with database.transaction() as session:
        await run(session, _CLAIM, {"event_id": event_id, "event_type": envelope.type})
        await run(session, _LOCK, {"thing_id": "t1"})
        await run(session, _BUMP, {"thing_id": "t1", "by": 1})
        await run(session, _APPEND, _append_values(envelope, event))


def _append_values(envelope: EventEnvelope, event: Event) -> dict[str, object]:
    return {
        "event_ids": [envelope.id],
        "event_types": [envelope.type],
        "topics": [event.TOPIC],
        "keys": [envelope.subject],
        "headers": ['{"ce_type": "bench"}'],
        "payloads": [envelope.data],
    }


async def _lone_read(database: Database, run: Runner, count: int) -> None:
    async with database.transaction() as session:
        for _ in range(count):
            await run(session, _READ, {"thing_id": "t1"})


async def _cpu_us(work: Callable[[], Awaitable[None]], count: int) -> float:
    started = time.process_time()
    await work()
    return (time.process_time() - started) / count * 1e6


async def run(count: int, rounds: int, profile_name: str = "bench") -> None:
    stack = Stack(profile(profile_name))
    if not stack.postgres.is_running():
        raise SystemExit("the bench stack is not running: use `make bench`")
    stack.postgres.ensure_database(DATABASE)
    url = stack.postgres.admin_dsn(DATABASE, driver="postgresql+asyncpg")
    setup = create_async_engine(url)
    async with setup.begin() as connection:
        await connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await connection.execute(text(f"SET search_path TO {SCHEMA}"))
        await connection.run_sync(_metadata.create_all)
        await connection.execute(_things.insert().values(id="t1", count=0))
    await setup.dispose()
    database = Database(
        create_async_engine(
            url, pool_size=1, connect_args={"server_settings": {"search_path": SCHEMA}}
        )
    )
    outbox = Outbox("bench")
    ways: dict[str, Runner] = {"session": _on_the_session, "direct": _on_the_driver}
    best: dict[tuple[str, str], float] = {}
    try:
        for runner in ways.values():  # warm both: prepared statements, codecs, caches
            for _ in range(50):
                await _consumer_transaction(database, runner, outbox)
            await _lone_read(database, runner, 50)
        for _ in range(rounds):
            for way, runner in ways.items():

                async def transactions(runner: Runner = runner) -> None:
                    for _ in range(count):
                        await _consumer_transaction(database, runner, outbox)

                async def reads(runner: Runner = runner) -> None:
                    await _lone_read(database, runner, count * 4)

                for measure, work, n in (
                    ("transaction", transactions, count),
                    ("statement", reads, count * 4),
                ):
                    cpu = await _cpu_us(work, n)
                    key = (measure, way)
                    best[key] = min(best.get(key, cpu), cpu)
    finally:
        await database.dispose()
    print(f"\nstatements on the driver: {rounds} alternated rounds, best of each, client CPU µs")
    print(f"{'':44}{'session':>9}{'direct':>9}{'ratio':>8}")
    for measure, label in (
        ("transaction", "a consumer's transaction, four statements"),
        ("statement", "one indexed SELECT in a transaction"),
    ):
        session_us, direct_us = best[(measure, "session")], best[(measure, "direct")]
        print(f"{label[:44]:44}{session_us:9.0f}{direct_us:9.0f}{session_us / direct_us:8.2f}")
    print(f"(at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; ratio: session ÷ direct)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300, help="transactions a round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--profile", default="bench", help="the running stack to measure on (make bench's)"
    )
    args = parser.parse_args()
    asyncio.run(run(args.count, args.rounds, args.profile))


if __name__ == "__main__":
    main()
