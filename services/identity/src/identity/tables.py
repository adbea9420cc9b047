"""identity's tables (in the `identity` schema, reached through the search_path)."""

from __future__ import annotations

from sqlalchemy import ARRAY, Column, DateTime, Integer, String, Table, Text, func, text

from servicekit.db import new_metadata
from servicekit.events import add_event_tables
from servicekit.idempotency import add_idempotency_table

__all__ = ["idempotency_records", "inbox", "login_failures", "metadata", "outbox", "users"]

metadata = new_metadata()

users = Table(
    "users",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("roles", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Failed logins per address (LoginThrottle), keyed by the address's SHA-256.
login_failures = Table(
    "login_failures",
    metadata,
    Column("account_key", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failed_at", DateTime(timezone=True), nullable=False),
    Column("locked_until", DateTime(timezone=True)),
)

outbox, inbox = add_event_tables(metadata)
idempotency_records = add_idempotency_table(metadata)
