"""Each service connects as its own role, confined by Postgres to its own schema."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from servicekit.db.bootstrap import RoleSpec, ensure_role_and_schema


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def two_services(
    scratch_database: Callable[[str, str], tuple[str, str]],
) -> tuple[str, RoleSpec, RoleSpec]:
    admin_url, _ = scratch_database("isolation_it", "unused")
    return (
        admin_url,
        RoleSpec("orders_iso", "orders-secret-1", "orders_iso", "isolation_it"),
        RoleSpec("catalog_iso", "catalog-secret-1", "catalog_iso", "isolation_it"),
    )


def _dsn(admin_url: str, spec: RoleSpec) -> str:
    url = make_url(admin_url).set(
        drivername="postgresql", username=spec.role, password=spec.password
    )
    return url.render_as_string(hide_password=False)


async def test_a_service_role_cannot_read_another_services_schema(
    two_services: tuple[str, RoleSpec, RoleSpec],
) -> None:
    admin_url, orders, catalog = two_services
    for spec in (orders, catalog, orders):  # twice: bootstrap is idempotent
        await ensure_role_and_schema(admin_url, spec)

    as_catalog = await asyncpg.connect(_dsn(admin_url, catalog))
    try:
        await as_catalog.execute("CREATE TABLE IF NOT EXISTS products (id text primary key)")
        await as_catalog.execute("INSERT INTO products VALUES ('prd_1') ON CONFLICT DO NOTHING")
    finally:
        await as_catalog.close()

    as_orders = await asyncpg.connect(_dsn(admin_url, orders))
    try:
        assert await as_orders.fetchval("SHOW search_path") == "orders_iso"
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="catalog_iso"):
            await as_orders.fetch("SELECT * FROM catalog_iso.products")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_orders.execute("CREATE TABLE public.sneaky (id int)")
        await as_orders.execute("CREATE TABLE IF NOT EXISTS orders (id text primary key)")
    finally:
        await as_orders.close()


async def test_a_service_role_has_no_privileges_beyond_its_schema(
    two_services: tuple[str, RoleSpec, RoleSpec],
) -> None:
    admin_url, orders, _ = two_services
    await ensure_role_and_schema(admin_url, orders)
    admin = await asyncpg.connect(_plain(admin_url))
    try:
        row = await admin.fetchrow(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles"
            " WHERE rolname = $1",
            orders.role,
        )
    finally:
        await admin.close()
    assert row is not None
    assert not any(row.values())
