"""`after_commit` callbacks run once their transaction commits, and never if it rolls back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from servicekit.db.commit_hooks import after_commit


@pytest.fixture(scope="module")
async def engine(
    scratch_database: Callable[[str, str], tuple[str, str]],
) -> AsyncIterator[AsyncEngine]:
    admin_url, _ = scratch_database("after_commit_it", "unused")
    engine = create_async_engine(admin_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


async def test_callbacks_run_in_order_after_the_commit(engine: AsyncEngine) -> None:
    ran: list[str] = []
    sessions = async_sessionmaker(engine)
    async with sessions() as session, session.begin():
        after_commit(session, lambda: ran.append("first"))
        await session.execute(text("SELECT 1"))
        after_commit(session, lambda: ran.append("second"))
        assert ran == []
    assert ran == ["first", "second"]


async def test_callbacks_of_a_rolled_back_transaction_never_run(engine: AsyncEngine) -> None:
    ran: list[str] = []
    sessions = async_sessionmaker(engine)
    async with sessions() as session:
        await session.begin()
        after_commit(session, lambda: ran.append("rolled back"))
        await session.rollback()
        async with session.begin():  # the same session, a new transaction
            after_commit(session, lambda: ran.append("committed"))
    assert ran == ["committed"]


async def test_a_released_savepoint_does_not_run_them_early(engine: AsyncEngine) -> None:
    ran: list[str] = []
    sessions = async_sessionmaker(engine)
    async with sessions() as session:
        await session.begin()
        async with session.begin_nested():
            after_commit(session, lambda: ran.append("inside the savepoint"))
        assert ran == []
        await session.rollback()
    assert ran == []


async def test_a_failing_callback_does_not_stop_the_others(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def fail() -> None:
        raise ValueError("boom")

    sessions = async_sessionmaker(engine)
    async with sessions() as session, session.begin():
        after_commit(session, fail)
        after_commit(session, lambda: ran.append("after the failure"))
    assert ran == ["after the failure"]
    assert "an after-commit callback failed" in caplog.text
