"""Statements compiled once, the inbox's claims first: one effect per event id, and SQL
compiled once, not per event.

SQLAlchemy does not cache PostgreSQL `insert(...).on_conflict_do_nothing()` constructs. The
inbox's inserts run on the driver (servicekit.db.direct), compiled when they are built: a claim
compiles nothing. Other such statements are `prepared` (servicekit.db.statements), so that the
second execution reuses the first one's compiled form; that cache is read from each execution's
context, as SQLAlchemy's own statement log ("[cached since …]" vs "[generated in …]") does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, bindparam, event
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from servicekit.db.statements import prepared
from servicekit.events.envelope import EventEnvelope
from servicekit.events.inbox import claim, claim_batch
from servicekit.events.tables import INBOX, add_event_tables
from servicekit.ids import new_id
from servicekit.testing.statements import statements_sent


@pytest.fixture(scope="module")
async def engine(
    scratch_database: Callable[[str, str], tuple[str, str]],
) -> AsyncIterator[AsyncEngine]:
    admin_url, _ = scratch_database("inbox_claims_it", "unused")
    engine = create_async_engine(admin_url, poolclass=NullPool)
    metadata = MetaData()
    add_event_tables(metadata)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def cache_outcomes(engine: AsyncEngine) -> list[str]:
    """For each INSERT run from now on: how SQLAlchemy got its compiled form."""
    dialect = engine.dialect
    names = {
        dialect.CACHE_HIT: "cached",
        dialect.CACHE_MISS: "generated",
        dialect.CACHING_DISABLED: "caching disabled",
        dialect.NO_CACHE_KEY: "no cache key",
        dialect.NO_DIALECT_SUPPORT: "no dialect support",
    }
    outcomes: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        context = _[1]
        if statement.startswith("INSERT"):
            outcomes.append(names[context.cache_hit])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield outcomes
    event.remove(engine.sync_engine, "before_cursor_execute", record)


def _envelope() -> EventEnvelope:
    return EventEnvelope(
        id=new_id("evt"),
        type="flotilla.test.claimed.v1",
        source="/inbox-it",
        subject="claims",
        time=datetime.now(UTC),
        data=b"{}",
    )


@pytest.fixture
def compilations(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL of each statement SQLAlchemy compiles for this engine from now on."""
    compiled: list[str] = []
    compiler = engine.dialect.statement_compiler

    def counting(*args: Any, **kwargs: Any) -> Any:
        made = compiler(*args, **kwargs)
        compiled.append(made.string)
        return made

    monkeypatch.setattr(engine.dialect, "statement_compiler", counting)
    return compiled


async def test_a_claim_is_compiled_once_and_a_duplicate_has_no_effect(
    engine: AsyncEngine, compilations: list[str]
) -> None:
    first, second = _envelope(), _envelope()
    sessions = async_sessionmaker(engine)
    async with sessions() as session, session.begin():
        assert await claim(session, first)
        compiled_by_the_first = len(compilations)
        async with statements_sent(session) as sent:
            assert await claim(session, second)
            assert not await claim(session, first)
    assert len(compilations) == compiled_by_the_first  # nothing compiled again
    assert len(sent) == 2
    assert sent[0] == sent[1]


async def test_batches_of_any_size_share_one_compiled_statement(
    engine: AsyncEngine, compilations: list[str]
) -> None:
    seen, fresh = _envelope(), [_envelope() for _ in range(3)]
    sessions = async_sessionmaker(engine)
    async with sessions() as session, session.begin():
        assert await claim_batch(session, [seen]) == {seen.id}
        compiled_by_the_first = len(compilations)
        async with statements_sent(session) as sent:
            new = await claim_batch(session, [seen, *fresh, fresh[0]])
    assert new == {envelope.id for envelope in fresh}
    assert len(compilations) == compiled_by_the_first
    assert len(sent) == 1


def test_a_postgresql_insert_with_on_conflict_is_not_cached_by_sqlalchemy() -> None:
    """Why `prepared` exists: if SQLAlchemy starts caching these constructs, it can go."""
    statement = insert(INBOX).values(event_id="x", event_type="y").on_conflict_do_nothing()
    assert statement._generate_cache_key() is None


async def test_a_cast_parameter_keeps_its_value_and_its_type(
    engine: AsyncEngine, cache_outcomes: list[str]
) -> None:
    """PostgreSQL renders a JSONB parameter as `:name::JSONB`; the cast must not hide the name."""
    notes = Table(
        "prepared_notes",
        MetaData(),
        Column("id", String(40), primary_key=True),
        Column("body", JSONB, nullable=False),
    )
    add = prepared(
        insert(notes)
        .values(id=bindparam("id"), body=bindparam("body"))
        .on_conflict_do_update(index_elements=[notes.c.id], set_={"body": bindparam("body")})
        .returning(notes.c.body)
    )
    async with engine.begin() as connection:
        await connection.run_sync(notes.metadata.create_all)
        first = (await connection.execute(add, {"id": "n1", "body": {"a": [1]}})).scalar_one()
        again = (await connection.execute(add, {"id": "n1", "body": {"b": 2}})).scalar_one()
    assert (first, again) == ({"a": [1]}, {"b": 2})
    assert cache_outcomes[1:] == ["cached"]


def test_a_literal_value_is_refused_since_it_would_be_frozen_into_the_statement() -> None:
    with pytest.raises(ValueError, match="event_type with bindparam"):
        prepared(insert(INBOX).values(event_id=bindparam("event_id"), event_type="frozen"))
