"""orders' tables (in the `orders` schema, reached through the search_path)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    text,
)

from servicekit.db import new_metadata
from servicekit.events import add_event_tables
from servicekit.idempotency import add_idempotency_table

__all__ = [
    "OPEN_STATUSES",
    "idempotency_records",
    "inbox",
    "metadata",
    "order_history",
    "order_lines",
    "orders",
    "outbox",
]

metadata = new_metadata()

OPEN_STATUSES = ("pending", "awaiting_payment")
"""The non-final statuses: the sweeper's index covers exactly these."""

orders = Table(
    "orders",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(40), nullable=False),
    Column("email", String(320), nullable=False),
    Column("status", String(20), nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payment_method", String(100), nullable=False),
    Column("reason", String(40)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deadline_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(
        "status IN ('pending', 'awaiting_payment', 'confirmed', 'cancelled', 'rejected')",
        name="status",
    ),
    # A user's orders, newest first (ids are time-ordered).
    Index("ix_orders_user_id_id", "user_id", "id"),
    # The sweeper's search: open orders by deadline.
    Index(
        "ix_orders_open_deadline_at",
        "deadline_at",
        postgresql_where=text("status IN ('pending', 'awaiting_payment')"),
    ),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String(40), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("product_id", String(40), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", BigInteger, nullable=False),
    PrimaryKeyConstraint("order_id", "line_no", name="pk_order_lines"),
)

order_history = Table(
    "order_history",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("order_id", String(40), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("cause", String(200), nullable=False),
    Index("ix_order_history_order_id_id", "order_id", "id"),
)

outbox, inbox = add_event_tables(metadata)
idempotency_records = add_idempotency_table(metadata)
