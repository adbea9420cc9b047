"""catalog's tables (in the `catalog` schema, reached through the search_path)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    String,
    Table,
    func,
)

from servicekit.db import new_metadata
from servicekit.events import add_event_tables
from servicekit.idempotency import add_idempotency_table

__all__ = [
    "idempotency_records",
    "inbox",
    "metadata",
    "outbox",
    "products",
    "reservation_lines",
    "reservations",
]

metadata = new_metadata()

products = Table(
    "products",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("sku", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("price_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    # Units available now: reservations are already deducted.
    Column("stock", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("stock >= 0", name="stock_not_negative"),
    CheckConstraint("price_cents >= 0", name="price_not_negative"),
)

# One row per order catalog has decided on: the primary key makes the decision once per order.
reservations = Table(
    "reservations",
    metadata,
    Column("order_id", String(40), primary_key=True),
    Column("user_id", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reserved_at", DateTime(timezone=True)),
    Column("released_at", DateTime(timezone=True)),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "status IN ('reserved', 'released', 'rejected', 'voided')", name="status_known"
    ),
)

reservation_lines = Table(
    "reservation_lines",
    metadata,
    Column("order_id", String(40), ForeignKey("reservations.order_id"), primary_key=True),
    Column("product_id", String(40), ForeignKey("products.id"), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    CheckConstraint("quantity > 0", name="quantity_positive"),
)

outbox, inbox = add_event_tables(metadata)
idempotency_records = add_idempotency_table(metadata)
