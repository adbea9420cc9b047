"""`Database.reads()` (a route's `ReadSessionDep`): reads in autocommit, writes refused; and
`Database.standalone()`: writes that each commit as they run.

A transaction around one statement costs two round trips of its own (`BEGIN`, `COMMIT`); a read
or standalone session sends the statement alone. What asyncpg sends unprepared (`BEGIN`,
`COMMIT`, `ROLLBACK`) is read with its query logger.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, event, insert, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from servicekit.db.engine import Database, WriteInReads
from servicekit.testing.events import unique

NOTES = Table("read_notes", MetaData(), Column("id", String(40), primary_key=True))


@pytest.fixture(scope="module")
async def database_url(scratch_database: Callable[[str, str], tuple[str, str]]) -> str:
    admin_url, _ = scratch_database("read_sessions_it", "unused")
    engine = create_async_engine(admin_url, poolclass=NullPool)
    async with engine.begin() as connection:
        await connection.run_sync(NOTES.metadata.create_all)
    await engine.dispose()
    return admin_url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(create_async_engine(database_url))
    yield database
    await database.dispose()


@pytest.fixture
def plain_queries(database: Database) -> list[str]:
    """The first word of every query asyncpg sends unprepared, from now on."""
    sent: list[str] = []

    def log_plain_queries(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(
            lambda query: sent.append(query.query.split(None, 1)[0].rstrip(";").upper())
        )

    event.listen(database.engine.sync_engine, "connect", log_plain_queries)
    return sent


async def test_a_read_sends_its_select_and_no_transaction_around_it(
    database: Database, plain_queries: list[str]
) -> None:
    note = unique("note")
    async with database.transaction() as session:
        await session.execute(insert(NOTES).values(id=note))
    written = len(plain_queries)
    async with database.reads() as session:
        found = (await session.execute(select(NOTES.c.id).where(NOTES.c.id == note))).scalar()
        again = (await session.execute(select(NOTES.c.id).where(NOTES.c.id == note))).scalar()
    assert found == again == note
    assert "BEGIN" in plain_queries[:written]  # the control: the write's transaction is seen
    assert plain_queries[written:] == []


async def test_a_write_in_a_read_session_is_refused_before_it_is_sent(
    database: Database,
) -> None:
    note = unique("note")
    with pytest.raises(WriteInReads, match="only SELECTs"):
        async with database.reads() as session:
            await session.execute(insert(NOTES).values(id=note))
    async with database.reads() as session:
        assert (await session.execute(select(NOTES.c.id).where(NOTES.c.id == note))).first() is None


async def test_a_transaction_after_reads_on_the_same_connection_is_a_transaction(
    database: Database, plain_queries: list[str]
) -> None:
    """The pool hands the read session's connection on: it goes back to its own isolation
    level, so the next transaction still begins and commits."""
    async with database.reads() as session:
        await session.execute(select(1))
    async with database.transaction() as session:
        await session.execute(insert(NOTES).values(id=unique("note")))
    assert plain_queries[-2:][0].startswith("BEGIN")
    assert plain_queries[-1] == "COMMIT"


async def test_a_standalone_write_is_committed_as_it_runs_without_a_transaction_around_it(
    database: Database, plain_queries: list[str]
) -> None:
    note, other = unique("note"), unique("note")
    sent_before = len(plain_queries)

    async def write_twice_then_fail() -> None:
        async with database.standalone() as session:
            await session.execute(insert(NOTES).values(id=note))
            async with database.reads() as elsewhere:  # another connection sees it at once
                seen = await elsewhere.execute(select(NOTES.c.id).where(NOTES.c.id == note))
                assert seen.scalar() == note
            await session.execute(insert(NOTES).values(id=other))
            raise RuntimeError("a failure after the writes")

    with pytest.raises(RuntimeError, match="after the writes"):
        await write_twice_then_fail()
    async with database.reads() as session:
        kept = await session.execute(select(NOTES.c.id).where(NOTES.c.id.in_([note, other])))
        assert sorted(kept.scalars()) == sorted([note, other])  # nothing was rolled back
    assert plain_queries[sent_before:] == []  # neither BEGIN, nor COMMIT, nor ROLLBACK
