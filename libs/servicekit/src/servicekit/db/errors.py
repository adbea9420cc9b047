"""The exceptions that mean "the database cannot be reached", as opposed to a bad query."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

__all__ = ["DATABASE_UNAVAILABLE_ERRORS", "is_database_unavailable"]

DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # pool checkout timed out: the pool is exhausted or connects hang
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    ConnectionError,
    OSError,
)


def is_database_unavailable(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, DATABASE_UNAVAILABLE_ERRORS)
