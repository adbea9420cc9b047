"""Alembic, one history per service, versioned inside the service's own schema.

A service's `migrations/env.py` is two lines: build its metadata and call
`run_migrations(metadata)`. The connection is always handed in by `bootstrap`, so migrations
run as the service role on the same connection (alembic's connection-sharing recipe).
"""

from __future__ import annotations

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData

__all__ = ["run_migrations", "upgrade_to_head"]


def upgrade_to_head(connection: Connection, script_location: str, schema: str) -> None:
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    command.upgrade(config, "head")


def run_migrations(metadata: MetaData) -> None:
    """The body of every service's env.py."""
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `python -m <service> bootstrap`")
    schema: str = context.config.attributes["schema"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
