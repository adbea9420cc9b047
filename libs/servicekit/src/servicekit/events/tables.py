"""The outbox and inbox tables each event-using service has in its own schema.

A service adds them to its metadata (`add_event_tables(metadata)`) and creates them in its
migrations, so each service owns its copies. A migration's effect must never change once it
has run somewhere, so each helper below does one fixed step: `create_event_tables()` makes the
tables as servicekit first shipped them (2026-11), and each later change has its own pair of
steps, up and down, that a service's next migration calls —
`drop_outbox_publication_indexes()` (2026-12-07). A new service's first migration calls them
in that order; `add_event_tables` declares where they lead.
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

__all__ = [
    "INBOX",
    "OUTBOX",
    "add_event_tables",
    "create_event_tables",
    "create_outbox_publication_indexes",
    "drop_event_tables",
    "drop_outbox_publication_indexes",
]


# The columns as first shipped: `create_event_tables()`, which every service's first migration
# calls, makes them from these two lists, so a change here would change what those migrations
# did (a fresh schema would get it, one already migrated never would, and the migration test
# could not tell). A new column is a column added in `add_event_tables` and a step of its own.
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
        # row once Kafka has it, so every row is unpublished. Its two indexes are gone
        # (`drop_outbox_publication_indexes`); the column stays while a replica of an earlier
        # version may still run and mark rows (expand, then contract), and `_housekeeping`
        # purges rows that carry it.
        Column("published_at", DateTime(timezone=True)),
    ]


def _inbox_columns() -> list[Column[Any]]:
    return [
        Column("event_id", String(200), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def add_event_tables(metadata: MetaData) -> tuple[Table, Table]:
    outbox = Table("outbox", metadata, *_outbox_columns())
    inbox = Table(
        "inbox", metadata, *_inbox_columns(), Index("ix_inbox_processed_at", "processed_at")
    )
    return outbox, inbox


def create_event_tables() -> None:
    """Call from a migration's upgrade(): the tables as first shipped (2026-11), the outbox
    with its two publication indexes, which `drop_outbox_publication_indexes()` then drops."""
    from alembic import op  # here, not at the top: a serving process never loads alembic

    op.create_table("outbox", *_outbox_columns())
    create_outbox_publication_indexes()
    op.create_table("inbox", *_inbox_columns())
    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"])


def drop_outbox_publication_indexes() -> None:
    """Call from a migration's upgrade() (2026-12-07). The relay deletes each row once Kafka
    has it, so every row in the outbox is unpublished: the partial index of unpublished rows
    repeats the primary key the relay reads its batches by, and the index of `published_at`
    holds one NULL per row. Each cost every append two index entries, and the autovacuum two
    more to clean after the delete. Both are dropped; the column stays (see its comment).

    `DROP INDEX` waits for the transactions using the outbox and holds appends back while it
    runs, which for a table holding only what is still to be sent is a moment."""
    from alembic import op

    op.drop_index("ix_outbox_published_at", "outbox")
    op.drop_index("ix_outbox_unpublished", "outbox")


def create_outbox_publication_indexes() -> None:
    """Call from the downgrade() of the migration that dropped them."""
    from alembic import op

    op.create_index(
        "ix_outbox_unpublished", "outbox", ["id"], postgresql_where=text("published_at IS NULL")
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])


def drop_event_tables() -> None:
    from alembic import op

    op.drop_table("inbox")
    op.drop_table("outbox")


# servicekit's own handles on the tables, for its SQL; the search_path picks the service schema.
OUTBOX, INBOX = add_event_tables(MetaData())
