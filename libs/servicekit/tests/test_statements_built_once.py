"""The statements servicekit runs for every event are built once, then executed with new values.

Building a SQLAlchemy statement (`insert(...).values(...)`, `select(...).where(x == value)`)
and deriving its cache key costs more CPU than the round trip that runs it: about 65 µs against
30 µs for the whole asyncpg execution, measured on the bench machine. The outbox's append and the
database clock run for every event, so each is one statement object, reused: the clock's
identity is read from SQLAlchemy's own execution context; the append runs on the driver
(servicekit.db.direct), compiled once when built, and sends the same SQL each time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, select

from servicekit.db.clock import statement_time, transaction_time
from servicekit.db.engine import Database
from servicekit.events.outbox import Outbox
from servicekit.events.tables import OUTBOX
from servicekit.settings import ServiceSettings
from servicekit.testing.events import ThingHappened, prepare_event_tables, unique
from servicekit.testing.statements import statements_sent


@pytest.fixture(scope="module")
async def settings(scratch_database: Callable[[str, str], tuple[str, str]]) -> ServiceSettings:
    admin_url, service_url = scratch_database("built_once_it", "built_once_it")
    settings = ServiceSettings(
        service_name="built_once_it", db_schema="built_once_it", database_url=service_url
    )
    await prepare_event_tables(admin_url, settings)
    return settings


@pytest.fixture
async def database(settings: ServiceSettings) -> AsyncIterator[Database]:
    database = Database.from_settings(settings)
    yield database
    await database.dispose()


@pytest.fixture
def executed(database: Database) -> Iterator[list[Any]]:
    """The statement object behind each execution from now on, in order."""
    statements: list[Any] = []

    def record(_conn: Any, _cursor: Any, _sql: str, _params: Any, context: Any, _many: Any) -> None:
        statements.append(context.invoked_statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    yield statements
    event.remove(database.engine.sync_engine, "before_cursor_execute", record)


async def test_one_event_or_several_are_appended_by_the_same_statement_in_their_order(
    database: Database,
) -> None:
    outbox = Outbox("built_once_it")
    thing = unique("thg_once")
    one = ThingHappened(thing_id=thing, sequence=0)
    several = [ThingHappened(thing_id=thing, sequence=n) for n in (1, 2, 3)]
    async with database.transaction() as session:
        async with statements_sent(session) as appending:
            await outbox.append(session, one)
            appended = await outbox.append_many(session, several)
        rows = (
            await session.execute(
                select(OUTBOX.c.event_id, OUTBOX.c.headers)
                .where(OUTBOX.c.key == thing)
                .order_by(OUTBOX.c.id)
            )
        ).all()
    first, second = appending
    assert first == second
    assert [row.event_id for row in rows[1:]] == [envelope.id for envelope in appended]
    assert rows[1].headers["ce_type"] == "relayit.thing.happened.v1"


async def test_the_database_clock_is_read_by_the_same_statements_each_time(
    database: Database, executed: list[Any]
) -> None:
    async with database.transaction() as session:
        started = await transaction_time(session)
        assert await transaction_time(session) == started
        assert await statement_time(session) >= started
        await statement_time(session)
    now_1, now_2, clock_1, clock_2 = executed
    assert now_1 is now_2
    assert clock_1 is clock_2
    assert now_1 is not clock_1
