"""The outbox and inbox tables each event-using service has in its own schema.

A service adds them to its metadata (`add_event_tables(metadata)`) and creates them in a
migration (`create_event_tables()` inside `upgrade()`), so each service owns its copies.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["INBOX", "OUTBOX", "add_event_tables", "create_event_tables", "drop_event_tables"]


def _outbox_columns() -> list[Column[Any]]:
    return [
        # Insertion order, used to publish in order; never a "published up to" watermark.
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", String(40), nullable=False, unique=True),
        Column("event_type", String(200), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        # Set only by relays before 2026-12-06, which kept sent rows: the relay now deletes a
        # row once Kafka has it, so every row is unpublished. Kept while a replica of an
        # earlier version may still run (expand, then contract); `_housekeeping` purges rows
        # that carry it.
        Column("published_at", DateTime(timezone=True)),
    ]


def _inbox_columns() -> list[Column[Any]]:
    return [
        Column("event_id", String(200), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def add_event_tables(metadata: MetaData) -> tuple[Table, Table]:
    outbox = Table(
        "outbox",
        metadata,
        *_outbox_columns(),
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
        Index("ix_outbox_published_at", "published_at"),
    )
    inbox = Table(
        "inbox", metadata, *_inbox_columns(), Index("ix_inbox_processed_at", "processed_at")
    )
    return outbox, inbox


def create_event_tables() -> None:
    """Call from a migration's upgrade()."""
    from alembic import op  # here, not at the top: a serving process never loads alembic

    op.create_table("outbox", *_outbox_columns())
    op.create_index(
        "ix_outbox_unpublished", "outbox", ["id"], postgresql_where=text("published_at IS NULL")
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.create_table("inbox", *_inbox_columns())
    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"])


def drop_event_tables() -> None:
    from alembic import op

    op.drop_table("inbox")
    op.drop_table("outbox")


# servicekit's own handles on the tables, for its SQL; the search_path picks the service schema.
OUTBOX, INBOX = add_event_tables(MetaData())
