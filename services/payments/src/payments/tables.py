"""payments' tables (in the `payments` schema, reached through the search_path)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, String, Table, func, text

from servicekit.db import new_metadata
from servicekit.events import add_event_tables

__all__ = ["inbox", "metadata", "outbox", "payments"]

metadata = new_metadata()

payments = Table(
    "payments",
    metadata,
    Column("id", String(40), primary_key=True),
    # One payment per order, however often its reservation is delivered.
    Column("order_id", String(200), nullable=False, unique=True),
    Column("user_id", String(200), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payment_method", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", String(40)),
    Column("charge_id", String(40)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # What the order's cancellation found: `refunded` (refund_id, refunded_at) or
    # `nothing_charged`; null while nothing was cancelled or looked into.
    Column("refund_status", String(20)),
    Column("refund_id", String(40)),
    Column("refunded_at", DateTime(timezone=True)),
)

outbox, inbox = add_event_tables(metadata)
