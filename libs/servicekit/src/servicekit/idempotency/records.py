"""The idempotency record table and all of its SQL.

One row per (principal, key) in the service's own schema — the service is the third part of
the scope. A row is only ever written with its final response, in the transaction that made
that response, so there is no "in progress" state to get stuck in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Interval,
    LargeBinary,
    MetaData,
    Select,
    SmallInteger,
    String,
    Table,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from servicekit.db.direct_statements import DirectStatement, direct

__all__ = [
    "IDEMPOTENCY_RECORDS",
    "StoredResponse",
    "add_idempotency_table",
    "create_idempotency_table",
    "drop_idempotency_table",
    "find_record",
    "insert_record",
]

_TABLE = "idempotency_records"
_metadata = MetaData()


def _columns() -> list[Column[Any]]:
    return [
        Column("principal", String(200), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("status_code", SmallInteger, nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("expires_at", DateTime(timezone=True), nullable=False),
    ]


def _expiry_index(table: str) -> tuple[str, str, list[str]]:
    return ("ix_idempotency_records_expires_at", table, ["expires_at"])


def add_idempotency_table(metadata: MetaData) -> Table:
    name, _, columns = _expiry_index(_TABLE)
    return Table(_TABLE, metadata, *_columns(), Index(name, *columns))


IDEMPOTENCY_RECORDS = add_idempotency_table(_metadata)


def create_idempotency_table() -> None:
    """Call from a migration's upgrade()."""
    from alembic import op  # here, not at the top: a serving process never loads alembic

    op.create_table(_TABLE, *_columns())
    op.create_index(*_expiry_index(_TABLE))


def drop_idempotency_table() -> None:
    from alembic import op

    op.drop_table(_TABLE)


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status_code: int
    headers: dict[str, str]
    body: bytes


async def find_record(
    connection: AsyncConnection, principal: str, key: str
) -> StoredResponse | None:
    """The live (unexpired) record for the key, as committed right now.

    One statement of its own, outside any transaction (`DirectStatement.run_alone`): no
    `BEGIN`/`COMMIT` around it, so the look-up costs one round trip, and the connection is left
    with no transaction open for the request's own to begin on it.
    """
    row = (await _FIND.run_alone(connection, {"principal": principal, "key": key})).first()
    if row is None:
        return None
    return StoredResponse(row.fingerprint, row.status_code, dict(row.headers), bytes(row.body))


async def insert_record(
    session: AsyncSession, principal: str, key: str, response: StoredResponse, ttl: timedelta
) -> bool:
    """Insert the key's record; False when a live record already holds the key.

    A concurrent transaction that holds the same key uncommitted makes this statement wait
    (up to the connection's lock_timeout). An expired record still in the table is replaced.
    """
    parameters = {
        "principal": principal,
        "key": key,
        "fingerprint": response.fingerprint,
        "status_code": response.status_code,
        "headers": response.headers,
        "body": response.body,
        "ttl": ttl,
    }
    return (await _INSERT.run(session, parameters)).first() is not None


def _find_statement() -> Select[tuple[str, int, dict[str, str], bytes]]:
    table = IDEMPOTENCY_RECORDS
    return select(table.c.fingerprint, table.c.status_code, table.c.headers, table.c.body).where(
        table.c.principal == bindparam("principal"),
        table.c.key == bindparam("key"),
        table.c.expires_at > func.now(),
    )


def _insert_statement() -> DirectStatement:
    """Run on the driver (servicekit.db.direct_statements), compiled once: SQLAlchemy never
    caches its PostgreSQL `insert()`. An expired record still in the table is replaced; a live
    one is left as it is."""
    table = IDEMPOTENCY_RECORDS
    replaced = ("fingerprint", "status_code", "headers", "body", "created_at", "expires_at")
    values = insert(table).values(
        principal=bindparam("principal"),
        key=bindparam("key"),
        fingerprint=bindparam("fingerprint"),
        status_code=bindparam("status_code"),
        headers=bindparam("headers"),
        body=bindparam("body"),
        created_at=func.now(),
        expires_at=func.now() + bindparam("ttl", type_=Interval),
    )
    return direct(
        values.on_conflict_do_update(
            index_elements=[table.c.principal, table.c.key],
            set_={name: values.excluded[name] for name in replaced},
            where=table.c.expires_at <= func.now(),
        ).returning(table.c.key)
    )


_FIND = direct(_find_statement())
_INSERT = _insert_statement()
