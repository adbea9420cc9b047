"""Hot statements run on the session's own asyncpg connection, below SQLAlchemy's execution.

A statement through `AsyncSession.execute` costs the client 2.5 to 4 times its round trip's CPU
on asyncpg (docs/performance.md: 180 to 230 µs against 47 to 76 on one machine, 80 against 25
on a faster one): a greenlet per statement, the ORM's execute, the compiled cache's lookup, the
parameters' and the result's processing, the DBAPI cursor the asyncpg adapter emulates. The
saga runs about forty-five such statements per order, all of them built once at import.

`direct(statement)` compiles such a statement once (on its first run, for the dialect of the
engine it runs on) and `run(session, parameters)` executes it on the driver connection under
the session's transaction, with what SQLAlchemy's execution would have given the caller:

- the same transaction: the statement runs on the connection the session holds, after the
  transaction's `BEGIN` (started the way the adapter starts it, when the statement is the
  transaction's first) — so it commits or rolls back with everything else the session did;
- the same values: each parameter through its type's bind processor for this dialect, each
  result column through its result processor (JSON, enums, dates as SQLAlchemy gives them);
- the same errors: a driver error is handed to SQLAlchemy's own handling, which raises it as
  `sqlalchemy.exc` types with the driver's `sqlstate`, runs the engine's `handle_error`
  listeners, and invalidates a connection (and the pool) that was lost;
- rows with attribute, index and `_mapping` access, and `rowcount` for a statement without
  result columns.

`run_alone(connection, parameters)` runs one on a connection with no transaction open, as a
statement that commits by itself (a look-up before the transaction that follows it on the
same connection): no `BEGIN` or `COMMIT`, and nothing of SQLAlchemy's state to set and reset.

What it reaches into: the asyncpg adapter's transaction state and lock (`_started`,
`_start_transaction`, `_execute_mutex`, `_handle_exception`) and `Connection`'s error handler
(`_handle_dbapi_exception`). `libs/servicekit/tests/test_direct_statements.py` holds each of
them to the behaviour above against Postgres, side by side with `AsyncSession.execute`, so an
upgrade of SQLAlchemy that moves one fails there. Refused when built: what changes shape per
call (an expanding `IN`), a literal value (bind it by name), a NUMERIC or FLOAT column. Not
seen by SQLAlchemy's statement events (`before_cursor_execute`): tests that count a step's
statements use `servicekit.testing.statements.statements_sent`. docs/adr/0006 has the why.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Numeric
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.util import greenlet_spawn

from servicekit.db.engine import WriteInReads, _ReadSession
from servicekit.db.statements import frozen_binds

__all__ = ["DirectStatement", "Rows", "direct"]

_Processor = Callable[[Any], Any] | None

_CACHED = "servicekit.direct"
"""Where a session keeps its transaction's connection: (transaction, connection, adapter),
valid while the session's transaction is that same transaction."""

_POSTGRESQL: Dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
_STATUS_COUNT = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+|MERGE) (\d+)")


class Rows:
    """A statement's rows, read the ways repositories read a SQLAlchemy result."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any | None:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise _one_error(len(self._rows))
        return self._rows[0]

    def one_or_none(self) -> Any | None:
        if len(self._rows) > 1:
            raise _one_error(len(self._rows))
        return self.first()

    def scalar(self) -> Any | None:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]


def _one_error(count: int) -> Exception:
    from sqlalchemy.exc import MultipleResultsFound, NoResultFound

    if count == 0:
        return NoResultFound("No row was found when one was required")
    return MultipleResultsFound("Multiple rows were found when exactly one was required")


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    binds: tuple[_Processor, ...]
    results: tuple[_Processor, ...]
    row: type[tuple[Any, ...]] | None
    """The row type (a named tuple with `_mapping`), None for a statement without columns."""


class DirectStatement:
    """A statement compiled once and run on the session's driver connection (see the module)."""

    def __init__(self, statement: Executable) -> None:
        if not isinstance(statement, ClauseElement):
            raise TypeError(f"direct(): a SQLAlchemy statement, not {type(statement).__name__}")
        self.statement = statement
        # Compiled here for PostgreSQL, so a statement direct() cannot run fails at import;
        # compiled again, once, for the dialect of the engine it first runs on.
        self._compiled: _Compiled = _compile(statement, _POSTGRESQL)
        self._dialect: Dialect = _POSTGRESQL

    async def run(
        self, session: AsyncSession | AsyncConnection, parameters: Mapping[str, Any] | None = None
    ) -> Rows:
        """Run on `session`'s connection, in its transaction (or on an `AsyncConnection` in
        autocommit or inside a transaction it began)."""
        connection, adapter = await _driver_connection(session, self.statement)
        return await self._execute(connection, adapter, parameters, in_transaction=True)

    async def run_alone(
        self, connection: AsyncConnection, parameters: Mapping[str, Any] | None = None
    ) -> Rows:
        """Run as a statement of its own on a connection with no transaction open: it commits
        by itself, without `BEGIN` and `COMMIT` round trips, and leaves the connection as it
        found it — ready for a transaction begun after it. A connection inside a transaction
        is refused (the statement would join it)."""
        adapter = await _adapter_of(connection)
        if connection.in_transaction() or adapter._started:
            raise RuntimeError("direct(): run_alone() is for a connection with no transaction")
        return await self._execute(connection, adapter, parameters, in_transaction=False)

    async def _execute(
        self,
        connection: AsyncConnection,
        adapter: Any,
        parameters: Mapping[str, Any] | None,
        *,
        in_transaction: bool,
    ) -> Rows:
        compiled = self._compiled_for(connection.dialect)
        given = parameters or {}
        try:
            values = [
                given[name] if process is None else process(given[name])
                for name, process in zip(compiled.names, compiled.binds, strict=True)
            ]
        except KeyError as missing:
            raise TypeError(f"direct(): no value for the parameter {missing}") from None
        driver = adapter._connection
        try:
            async with adapter._execute_mutex:
                if in_transaction and not adapter._started:
                    await adapter._start_transaction()
                if compiled.row is None:
                    status = await driver.execute(compiled.sql, *values)
                    counted = _STATUS_COUNT.match(status or "")
                    return Rows([], int(counted.group(1)) if counted else -1)
                records = await driver.fetch(compiled.sql, *values)
        except BaseException as error:
            await _raise_as_sqlalchemy(connection, adapter, error, compiled.sql, values)
            raise  # unreachable: the handler raises
        make = compiled.row
        processors = compiled.results
        rows = [
            make(
                *(
                    value if process is None else process(value)
                    for value, process in zip(record, processors, strict=True)
                )
            )
            for record in records
        ]
        return Rows(rows, len(rows))

    def _compiled_for(self, dialect: Dialect) -> _Compiled:
        if self._dialect is not dialect:
            self._compiled = _compile(self.statement, dialect)
            self._dialect = dialect
        return self._compiled


def direct(statement: Executable) -> DirectStatement:
    """`statement`, to be run with `.run(session, parameters)` on the driver (see the module)."""
    return DirectStatement(statement)


async def _driver_connection(
    runner: AsyncSession | AsyncConnection, statement: ClauseElement
) -> tuple[AsyncConnection, Any]:
    """The SQLAlchemy connection and the asyncpg adapter the statement runs on: the session's
    (its transaction begun), kept in the session for the rest of its transaction."""
    if isinstance(runner, AsyncConnection):
        return runner, await _transaction_adapter(runner)
    session = runner.sync_session
    if isinstance(session, _ReadSession) and not getattr(statement, "is_select", False):
        raise WriteInReads(f"only SELECTs run in Database.reads(), not: {statement}")
    # A savepoint begun since is emitted when the session is asked for its connection.
    transaction = (session.get_transaction(), session.get_nested_transaction())
    cached = session.info.get(_CACHED)
    if cached is not None and transaction[0] is not None and cached[0] == transaction:
        return cached[1], cached[2]
    connection = await runner.connection()  # begins the session's transaction (or savepoint)
    adapter = await _transaction_adapter(connection)
    begun = (session.get_transaction(), session.get_nested_transaction())
    session.info[_CACHED] = (begun, connection, adapter)
    return connection, adapter


async def _transaction_adapter(connection: AsyncConnection) -> Any:
    adapter = await _adapter_of(connection)
    if not adapter.autocommit and not connection.in_transaction():
        # A transaction begun below SQLAlchemy would never be committed by it.
        raise RuntimeError("direct(): begin the connection's transaction first")
    return adapter


async def _adapter_of(connection: AsyncConnection) -> Any:
    sync = connection.sync_connection
    if sync is None or sync.closed or sync.invalidated:
        raw = await connection.get_raw_connection()  # reconnects, or raises as SQLAlchemy does
    else:
        raw = sync.connection  # the checked-out connection: no I/O
    return raw.dbapi_connection


async def _raise_as_sqlalchemy(
    connection: AsyncConnection, adapter: Any, error: BaseException, sql: str, values: list[Any]
) -> None:
    """Raise `error` as SQLAlchemy would have from the same statement: translated by the
    adapter, then wrapped, reported to `handle_error` listeners, the connection (and the pool)
    invalidated on a disconnect."""
    dbapi_error: BaseException = error
    if isinstance(error, Exception):
        try:
            adapter._handle_exception(error)
        except Exception as translated:
            dbapi_error = translated
    is_dbapi = isinstance(dbapi_error, connection.dialect.loaded_dbapi.Error)
    sync = connection.sync_connection
    assert sync is not None
    # SQLAlchemy wraps only the driver's errors in its own; anything else (a timeout, a
    # cancellation, asyncpg's own state errors) is raised as it is, after the same listeners
    # and disconnect handling.
    await greenlet_spawn(_handle, sync, dbapi_error, sql if is_dbapi else None, tuple(values))


def _handle(
    sync: Connection, error: BaseException, sql: str | None, values: tuple[Any, ...]
) -> None:
    try:
        raise error  # the handler reads the error being handled from sys.exc_info()
    except BaseException as handled:
        sync._handle_dbapi_exception(handled, sql, values, None, None)


def _compile(statement: ClauseElement, dialect: Dialect) -> _Compiled:
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    frozen = frozen_binds(compiled)
    if frozen:
        raise ValueError(f"direct(): bind {', '.join(frozen)} with bindparam(name), not a value")
    expanding = sorted(name for bind, name in compiled.bind_names.items() if bind.expanding)
    if expanding:
        raise ValueError(f"direct(): {', '.join(expanding)} expands per call; bind an array")
    positions: Sequence[str] = compiled.positiontup or []
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    binds = tuple(
        by_name[name].type.dialect_impl(dialect).bind_processor(dialect) for name in positions
    )
    columns = compiled._result_columns
    if not columns:
        return _Compiled(compiled.string, tuple(positions), binds, (), None)
    keys = [column[0] for column in columns]
    inexact = [key for key, *_, type_ in columns if isinstance(type_, Numeric)]
    if inexact:
        # How the driver's NUMERIC or FLOAT is read depends on the column's type in the
        # statement's description, which direct() does not ask the server for.
        raise ValueError(f"direct(): {', '.join(inexact)} is NUMERIC or FLOAT; use the session")
    results = tuple(
        column[3].dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    return _Compiled(compiled.string, tuple(positions), binds, results, _row_type(keys))


def _row_type(keys: list[str]) -> type[tuple[Any, ...]]:
    base = namedtuple("DirectRow", keys)  # type: ignore[misc]  # names known at run time

    class DirectRow(base):
        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return dict(zip(self._fields, self, strict=True))

    return DirectRow
