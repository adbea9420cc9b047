"""Statements run on the driver (servicekit.db.direct_statements) give what
`AsyncSession.execute` gives:
the same rows and values, the same transaction, the same errors, the same handling of a lost
connection. Each behaviour is checked side by side with SQLAlchemy's own execution, on
Postgres, so an upgrade of SQLAlchemy or asyncpg that changes what `direct` reaches into
fails here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.exc import DBAPIError, IntegrityError, NoResultFound
from sqlalchemy.ext.asyncio import create_async_engine

from servicekit.db.direct_statements import direct
from servicekit.db.engine import Database, WriteInReads
from servicekit.db.errors import is_database_unavailable
from servicekit.db.liveness import discard_confused_connections

metadata = MetaData()
things = Table(
    "direct_things",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("doc", JSONB, nullable=False),
    Column("tags", ARRAY(String), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

_ADD = (
    insert(things)
    .values(
        id=bindparam("id"),
        count=bindparam("count"),
        doc=bindparam("doc"),
        tags=bindparam("tags"),
        at=bindparam("at"),
    )
    .returning(things)
)
_BY_ID = select(things, func.now().label("read_at")).where(things.c.id == bindparam("id"))
_COUNTED = select(func.count(), func.sum(things.c.count)).where(
    things.c.id == func.any(bindparam("ids", type_=ARRAY(String)))
)
_BUMP = (
    update(things)
    .where(things.c.id == bindparam("thing_id"))
    .values(count=things.c.count + bindparam("by", type_=BigInteger))
)
_DROP = delete(things).where(things.c.id == func.any(bindparam("ids", type_=ARRAY(String))))
_TWICE = select(things.c.id).where(
    things.c.id == bindparam("id"),
    func.length(bindparam("id", type_=String)) > bindparam("length", type_=BigInteger),
)

_ONE = select(bindparam("one", type_=BigInteger).label("one"))
_PID = select(func.pg_backend_pid())


@pytest.fixture(scope="module")
async def database(
    scratch_database: Callable[[str, str], tuple[str, str]],
) -> AsyncIterator[Database]:
    admin_url, _ = scratch_database("direct_statements_it", "unused")
    engine = create_async_engine(admin_url, pool_size=2, hide_parameters=True)
    discard_confused_connections(engine)  # as Database.from_settings does
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.run_sync(metadata.create_all)
    yield Database(engine)
    await engine.dispose()


_serial = iter(range(1_000_000))


def _thing(**overrides: Any) -> dict[str, Any]:
    return {
        "id": f"thing-{next(_serial)}",
        "count": 7,
        "doc": {"owner": "ann", "lines": [1, 2]},
        "tags": ["a", "b"],
        "at": datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC),
    } | overrides


async def test_rows_and_values_are_the_ones_the_session_gives(database: Database) -> None:
    first, second = _thing(), _thing(count=9, doc={"owner": "bob"}, tags=[])
    async with database.transaction() as session:
        added = (await direct(_ADD).run(session, first)).one()
        await session.execute(_ADD, second)
        for parameters, statement in (
            ({"id": first["id"]}, _BY_ID),
            ({"ids": [first["id"], second["id"]]}, _COUNTED),
            ({"id": second["id"], "length": 0}, _TWICE),
        ):
            expected = (await session.execute(statement, parameters)).all()
            got = (await direct(statement).run(session, parameters)).all()
            assert [tuple(row) for row in got] == [tuple(row) for row in expected]
            assert [row._mapping for row in got] == [dict(row._mapping) for row in expected]
            assert [[type(value) for value in row] for row in got] == [
                [type(value) for value in row] for row in expected
            ]
    assert added.doc == {"owner": "ann", "lines": [1, 2]}
    assert added.at == first["at"]
    assert added.tags == ["a", "b"]


async def test_results_are_read_the_ways_repositories_read_them(database: Database) -> None:
    thing = _thing()
    async with database.transaction() as session:
        await direct(_ADD).run(session, thing)
        counted = direct(_COUNTED)
        assert (await counted.run(session, {"ids": [thing["id"]]})).scalar_one() == 1
        assert (await counted.run(session, {"ids": [thing["id"]]})).one() == (1, 7)
        nothing = await direct(_BY_ID).run(session, {"id": "missing"})
        assert nothing.first() is None
        assert nothing.scalar() is None
        assert nothing.one_or_none() is None
        with pytest.raises(NoResultFound):
            nothing.one()
        bumped = await direct(_BUMP).run(session, {"thing_id": thing["id"], "by": 1})
        assert bumped.rowcount == 1
        assert (await direct(_BUMP).run(session, {"thing_id": "missing", "by": 1})).rowcount == 0


async def test_the_statement_is_part_of_the_sessions_transaction(database: Database) -> None:
    kept, undone = _thing(), _thing()

    async def add_then_fail() -> None:
        async with database.transaction() as session:
            await direct(_ADD).run(session, undone)  # the transaction's first statement
            raise LookupError("undo")

    with pytest.raises(LookupError):
        await add_then_fail()
    async with database.transaction() as session:
        await direct(_ADD).run(session, kept)
        # the session sees the direct write, and the direct statement the session's
        assert (await session.execute(_BY_ID, {"id": kept["id"]})).one().count == 7
        await session.execute(_BUMP, {"thing_id": kept["id"], "by": 1})
        assert (await direct(_BY_ID).run(session, {"id": kept["id"]})).one().count == 8
    async with database.engine.connect() as other:
        found = (await other.execute(_COUNTED, {"ids": [kept["id"], undone["id"]]})).one()
    assert tuple(found) == (1, 8)


async def test_a_savepoint_rolled_back_takes_the_direct_write_with_it(database: Database) -> None:
    thing = _thing()
    async with database.transaction() as session:
        await direct(_ADD).run(session, thing)
        savepoint = await session.begin_nested()
        await direct(_BUMP).run(session, {"thing_id": thing["id"], "by": 1})
        await savepoint.rollback()
        assert (await direct(_BY_ID).run(session, {"id": thing["id"]})).one().count == 7


async def test_errors_are_sqlalchemys_with_the_drivers_sqlstate(database: Database) -> None:
    thing = _thing()
    async with database.transaction() as session:
        await direct(_ADD).run(session, thing)

    async def add_again(through_session: bool) -> None:
        async with database.transaction() as session:
            if through_session:
                await session.execute(_ADD, thing)
            else:
                await direct(_ADD).run(session, thing)

    with pytest.raises(IntegrityError) as by_session:
        await add_again(through_session=True)
    with pytest.raises(IntegrityError) as by_direct:
        await add_again(through_session=False)
    session_error, direct_error = by_session.value, by_direct.value
    assert type(direct_error.orig) is type(session_error.orig)
    assert direct_error.orig.sqlstate == "23505"  # type: ignore[union-attr]
    assert direct_error.connection_invalidated is False
    assert "ann" not in str(direct_error)  # the engine hides parameters; so does direct
    assert str(direct_error.statement).startswith("INSERT INTO direct_things")


async def test_after_an_error_the_connection_serves_the_next_transaction(
    database: Database,
) -> None:
    async def divide_by_zero() -> None:
        async with database.transaction() as session:
            remainder = func.mod(
                bindparam("one", type_=BigInteger), bindparam("zero", type_=BigInteger)
            )
            await direct(select(remainder)).run(session, {"one": 1, "zero": 0})

    with pytest.raises(DBAPIError) as caught:
        await divide_by_zero()
    assert caught.value.orig.sqlstate == "22012"  # type: ignore[union-attr]
    for _ in range(3):  # every pooled connection
        async with database.transaction() as session:
            assert (await direct(_ONE).run(session, {"one": 1})).one().one == 1


async def test_a_lost_connection_is_an_unavailable_database_and_leaves_the_pool(
    database: Database,
) -> None:
    killed: list[int] = []

    async def read_after_the_backend_is_killed() -> None:
        async with database.transaction() as session:
            pid = (await direct(_PID).run(session)).scalar_one()
            async with database.engine.connect() as killer:
                await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killed.append(pid)
            await direct(_BY_ID).run(session, {"id": "anything"})

    # Which error depends on when asyncpg reads the server's goodbye: "connection is closed"
    # (SQLAlchemy's InterfaceError) or asyncpg's state error; both mean the database is gone.
    with pytest.raises(Exception) as caught:  # noqa: PT011
        await read_after_the_backend_is_killed()
    assert is_database_unavailable(caught.value)
    pids = set()
    for _ in range(3):  # the pool holds no dead connection: each answers
        async with database.transaction() as session:
            pids.add((await direct(_PID).run(session)).scalar_one())
    assert killed[0] not in pids


async def test_a_cancelled_statement_leaves_no_connection_mid_operation(
    database: Database,
) -> None:
    async def sleep_in_postgres() -> None:
        async with database.transaction() as session:
            await direct(select(func.pg_sleep(bindparam("seconds", type_=BigInteger)))).run(
                session, {"seconds": 30}
            )

    sleeping = asyncio.create_task(sleep_in_postgres())
    await asyncio.sleep(0.3)
    sleeping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeping
    for _ in range(3):  # every pooled connection answers at once
        async with database.transaction() as session:
            assert (await direct(_ONE).run(session, {"one": 2})).scalar() == 2


async def test_a_read_session_refuses_a_write_before_sending_it(database: Database) -> None:
    thing = _thing()
    async with database.reads() as session:
        with pytest.raises(WriteInReads):
            await direct(_ADD).run(session, thing)
        assert (await direct(_BY_ID).run(session, {"id": thing["id"]})).first() is None


async def test_a_connection_outside_any_transaction_is_refused(database: Database) -> None:
    async with database.engine.connect() as connection:
        with pytest.raises(RuntimeError, match="begin the connection's transaction"):
            await direct(_BY_ID).run(connection, {"id": "x"})
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        assert (await direct(_BY_ID).run(autocommit, {"id": "x"})).all() == []


async def test_a_statement_run_alone_commits_by_itself_and_leaves_no_transaction_open(
    database: Database,
) -> None:
    alone, undone = _thing(), _thing()
    async with database.engine.connect() as connection:
        # The things' column types met once on this connection first: asyncpg's own queries
        # that learn a type are not the statements this test counts.
        assert (await direct(_BY_ID).run_alone(connection, {"id": alone["id"]})).all() == []
        driver: Any = (await connection.get_raw_connection()).driver_connection
        sent: list[str] = []

        def keep(query: Any) -> None:
            sent.append(query.query.split()[0].rstrip(";"))

        driver.add_query_logger(keep)
        await direct(_ADD).run_alone(connection, alone)
        assert not connection.in_transaction()
        async with database.engine.connect() as other:  # committed: another connection sees it
            assert (await direct(_BY_ID).run_alone(other, {"id": alone["id"]})).one()
        async with connection.begin() as transaction:  # the connection goes on to a transaction
            await direct(_ADD).run(connection, undone)
            with pytest.raises(RuntimeError, match="no transaction"):
                await direct(_BY_ID).run_alone(connection, {"id": undone["id"]})
            await transaction.rollback()
        await asyncio.sleep(0)  # asyncpg reports a query through the loop
        driver.remove_query_logger(keep)
        assert sent == ["INSERT", "BEGIN", "INSERT", "ROLLBACK"]
        found = await direct(_COUNTED).run_alone(connection, {"ids": [alone["id"], undone["id"]]})
    assert tuple(found.one()) == (1, 7)


def test_statements_that_change_shape_per_call_are_refused_when_built() -> None:
    with pytest.raises(ValueError, match="bindparam"):
        direct(select(things.c.id).where(things.c.id == "frozen"))
    with pytest.raises(ValueError, match="bind an array"):
        direct(select(things.c.id).where(things.c.id.in_(bindparam("ids", expanding=True))))


async def test_a_missing_parameter_is_named_before_anything_is_sent(database: Database) -> None:
    async with database.transaction() as session:
        with pytest.raises(TypeError, match="no value for the parameter 'id'"):
            await direct(_BY_ID).run(session, {"identifier": "x"})
