"""The request's unit of work: one transaction per request, owned by servicekit.

Handlers receive `SessionDep` and never commit. The transaction commits after the route
function returns and *before* the response is sent (`scope="function"`), so a failed commit
becomes an error response rather than a success the database never saw.

A route that answers from one SELECT takes `ReadSessionDep` instead: its statements run in
autocommit (`Database.reads()`), without the `BEGIN` and `COMMIT` round trips a transaction
adds, and anything but a SELECT is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db.engine import Database

__all__ = [
    "SESSION_SCOPE_KEY",
    "ReadSessionDep",
    "SessionDep",
    "get_database",
    "request_reads",
    "request_transaction",
]

SESSION_SCOPE_KEY = "flotilla.session"
"""Where a route wrapper that owns the request's transaction (idempotency) leaves its session."""


async def get_database(request: Request) -> Database:
    """The app's database. `async` although it never awaits: FastAPI runs a plain `def`
    dependency in its thread pool, a thread hand-off per request for an attribute read."""
    database: Database = request.app.state.database
    return database


async def request_transaction(
    request: Request, database: Annotated[Database, Depends(get_database)]
) -> AsyncIterator[AsyncSession]:
    owned: AsyncSession | None = request.scope.get(SESSION_SCOPE_KEY)
    if owned is not None:
        yield owned  # begun, committed or rolled back by its owner
        return
    async with database.transaction() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(request_transaction, scope="function")]


async def request_reads(
    database: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncSession]:
    async with database.reads() as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(request_reads, scope="function")]
