"""The request's unit of work: one transaction per request, owned by servicekit.

Handlers receive `SessionDep` and never commit. The transaction commits after the route
function returns and *before* the response is sent (`scope="function"`), so a failed commit
becomes an error response rather than a success the database never saw.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db.engine import Database

__all__ = ["SessionDep", "get_database", "request_transaction"]


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def request_transaction(
    database: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncSession]:
    async with database.transaction() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(request_transaction, scope="function")]
