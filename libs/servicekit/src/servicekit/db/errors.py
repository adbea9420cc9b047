"""The exceptions that mean "the database cannot be reached", as opposed to a bad query."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

__all__ = ["DATABASE_UNAVAILABLE_ERRORS", "is_database_unavailable", "may_be_database_outage"]

DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # pool checkout timed out: the pool is exhausted or connects hang
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    # "cannot switch to state …; another operation is in progress": the rollback of an
    # operation that Postgres died under (seen when it is killed mid-request).
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
    OSError,
)


def is_database_unavailable(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, DATABASE_UNAVAILABLE_ERRORS):
        return True
    # SQLAlchemy's asyncpg adapter raises a plain DBAPIError around its own Error, whose cause is
    # the driver's: "connection was closed in the middle of operation" when Postgres dies
    # under a statement.
    driver_error = getattr(getattr(error, "orig", None), "__cause__", None)
    return isinstance(driver_error, DATABASE_UNAVAILABLE_ERRORS)


# Statement and lock timeouts (query_canceled, lock_not_available): a bad query's doing, or the
# symptom of a database that stopped answering. Only a probe can tell which.
_TIMEOUT_SQLSTATES = frozenset({"57014", "55P03"})


def may_be_database_outage(error: BaseException) -> bool:
    """True when `error`, or an error it was raised from, means the database may be gone: it
    is unreachable, or a statement or lock timed out. A caller confirms with a probe."""
    seen: BaseException | None = error
    for _ in range(5):  # the chain a handler or SQLAlchemy wraps around the driver's error
        if seen is None:
            return False
        if is_database_unavailable(seen):
            return True
        orig = getattr(seen, "orig", None)
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if code in _TIMEOUT_SQLSTATES:
            return True
        seen = seen.__cause__
    return False
