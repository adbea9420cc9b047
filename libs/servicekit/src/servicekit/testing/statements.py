"""The statements a session sends, for tests that hold a step to its round trips.

    async with statements_sent(session) as sent:
        await repository.place(...)
    assert [sql.split()[0] for sql in sent] == ["WITH", "INSERT"]

Both ways a statement leaves are seen, in the order they were sent: through SQLAlchemy's
execution (its `before_cursor_execute` event on the session's connection) and on the driver
(`servicekit.db.direct`, asyncpg's query logger on the same connection). Left out: transaction
control (`BEGIN`, `COMMIT`, `ROLLBACK`, savepoints), which the adapter sends on its own, and
the queries asyncpg sends to learn a type the first time a connection meets it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asyncpg import introspection
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["statements_sent"]

_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
_INTROSPECTION = frozenset(
    value
    for name, value in vars(introspection).items()
    if name.isupper() and isinstance(value, str)
)


@asynccontextmanager
async def statements_sent(session: AsyncSession) -> AsyncIterator[list[str]]:
    """The SQL of each statement `session` sends while the block runs (its transaction is
    begun first, so that its connection is the one watched)."""
    connection = await session.connection()
    sync = connection.sync_connection
    assert sync is not None
    driver: Any = (await connection.get_raw_connection()).driver_connection
    loop = asyncio.get_running_loop()
    sent: list[str] = []

    def keep(sql: str) -> None:
        if not sql.lstrip().upper().startswith(_CONTROL):
            sent.append(sql)

    # asyncpg reports a query once it is done, through the loop (call_soon); the statements
    # SQLAlchemy sends are queued the same way, so both arrive in the order they were sent.
    def through_sqlalchemy(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        loop.call_soon(keep, sql)

    def on_the_driver(query: Any) -> None:
        if query.query not in _INTROSPECTION and "set_config('jit'" not in query.query:
            keep(query.query)  # (asyncpg turns JIT off around its introspection)

    event.listen(sync, "before_cursor_execute", through_sqlalchemy)
    driver.add_query_logger(on_the_driver)
    try:
        yield sent
        await asyncio.sleep(0)  # the reports queued by the block's last statement
    finally:
        driver.remove_query_logger(on_the_driver)
        event.remove(sync, "before_cursor_execute", through_sqlalchemy)
