"""Every service's migrations build exactly the tables its code declares, and take them down.

For each service that owns a schema (its manifest's `migrations`), in a schema of this test's
own on the test stack's Postgres: upgraded to head, the schema has what `<service>.tables`
declares, compared the way `alembic revision --autogenerate` would (tables, columns, types,
server defaults, indexes, constraints) — a migration that forgot an index, or a table that
gained a column no migration adds, shows here rather than in production. Downgraded to base,
nothing is left but alembic's own version table; upgraded again, it matches once more.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from contracts.manifest import load_manifests
from servicekit.db.migrations import upgrade_to_head

SERVICES = [
    manifest.name
    for manifest in load_manifests(Path(__file__).parents[2] / "services")
    if manifest.migrations
]
DATABASE = "migrations_it"


@pytest.fixture(scope="module")
async def admin_engine(
    scratch_database: Callable[[str, str], tuple[str, str]],
) -> AsyncIterator[AsyncEngine]:
    admin_url, _ = scratch_database(DATABASE, DATABASE)
    engine = create_async_engine(admin_url)
    yield engine
    await engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_build_the_declared_tables_and_take_them_down(
    admin_engine: AsyncEngine, service: str
) -> None:
    metadata: MetaData = importlib.import_module(f"{service}.tables").metadata
    script_location = f"{service}:migrations"
    schema = f"{service}_migrations"
    async with admin_engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        await _in_schema(admin_engine, schema, upgrade_to_head, script_location, schema)
        assert await _in_schema(admin_engine, schema, _differences, metadata) == []

        await _in_schema(admin_engine, schema, _downgrade_to_base, script_location, schema)
        assert await _in_schema(admin_engine, schema, _tables) == ["alembic_version"]

        await _in_schema(admin_engine, schema, upgrade_to_head, script_location, schema)
        assert await _in_schema(admin_engine, schema, _differences, metadata) == []
    finally:
        async with admin_engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


async def _in_schema(
    engine: AsyncEngine, schema: str, work: Callable[..., Any], *arguments: Any
) -> Any:
    """`work(connection, *arguments)` in one transaction with `schema` first on the search path,
    as bootstrap runs migrations (the service's tables are declared without a schema)."""
    async with engine.begin() as connection:
        await connection.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        return await connection.run_sync(work, *arguments)


def _differences(connection: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


def _downgrade_to_base(connection: Connection, script_location: str, schema: str) -> None:
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    command.downgrade(config, "base")


def _tables(connection: Connection) -> list[str]:
    return sorted(inspect(connection).get_table_names())
