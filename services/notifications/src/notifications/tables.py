"""notifications' tables (in the `notifications` schema, reached through the search_path)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, String, Table, Text, UniqueConstraint, func

from servicekit.db import new_metadata
from servicekit.events import add_event_tables

__all__ = ["inbox", "metadata", "notifications", "outbox"]

metadata = new_metadata()

notifications = Table(
    "notifications",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(40), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("template", String(100), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("cause_event_id", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    # One notification per cause and template: a redelivered registration greets once.
    UniqueConstraint("cause_event_id", "template", name="uq_notifications_cause_template"),
    # A user's notifications, newest first (ids are time-ordered).
    Index("ix_notifications_user_id_id", "user_id", "id"),
)

outbox, inbox = add_event_tables(metadata)
