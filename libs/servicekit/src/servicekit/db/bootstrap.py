"""Idempotent database set-up for one service: its role, its schema, its migrations.

Run by `python -m <service> bootstrap` (locally by the stack, on Kubernetes by the migration
Job or, with the chart's `migration.mode: initContainer`, by every pod before it starts).
Connected as an administrator it creates the service's login role and a schema owned by it, and
confines the role: it may connect and use its own schema, nothing else. Migrations then run *as
the service role*, so every object it creates is owned by, and visible only to, it.

Several bootstraps may run at once (two replicas' init containers, a Job beside a pod): the
administrator connection holds a Postgres advisory lock from before the role is touched until
the migrations are at head, so they run one after the other and the later ones find nothing to
do. A database that does not answer yet (its pod still starting) can be waited for, a bounded
time, with a log line per attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from servicekit.db.migrations import upgrade_to_head
from servicekit.settings import ServiceSettings

__all__ = ["RoleSpec", "bootstrap_database", "connect_admin", "ensure_role_and_schema"]

log = logging.getLogger(__name__)

# One bootstrap at a time per database: replicas or Jobs racing each other would collide
# on CREATE ROLE and on the migrations' own DDL.
_BOOTSTRAP_LOCK_KEY = 0x666C6F74  # "flot"
# Between two attempts to reach a database that does not answer yet.
_RETRY_INTERVAL_S = 2.0
# What "not answering yet" looks like: refused or unresolvable (the pod or its Service not
# there yet), or Postgres still starting up or shutting down.
_NOT_YET = (OSError, ConnectionError, asyncpg.exceptions.CannotConnectNowError)


@dataclass(frozen=True)
class RoleSpec:
    role: str
    password: str
    schema: str
    database: str


def role_spec(settings: ServiceSettings) -> RoleSpec:
    url = make_url(settings.database_url.get_secret_value())
    if not url.username or not url.password or not url.database:
        raise ValueError("DATABASE_URL must name a user, a password and a database")
    return RoleSpec(url.username, url.password, settings.db_schema, url.database)


async def connect_admin(admin_url: str, wait_s: float = 0.0) -> asyncpg.Connection:
    """An administrator connection; while the database does not answer, retry every 2 s for up
    to `wait_s` seconds (0: a single attempt), logging each failure; then a ConnectionError
    naming the last one."""
    deadline = time.monotonic() + wait_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return await asyncpg.connect(_asyncpg_dsn(admin_url))
        except _NOT_YET as error:
            left = deadline - time.monotonic()
            if left <= 0:
                waited = f" (waited {wait_s:.0f}s, {attempt} attempts)" if wait_s > 0 else ""
                raise ConnectionError(
                    f"the database does not answer{waited}: {str(error) or type(error).__name__}"
                ) from error
            log.warning(
                "database not reachable yet, retrying",
                extra={"attempt": attempt, "error": str(error) or type(error).__name__,
                       "seconds_left": round(left)},
            )  # fmt: skip
            await asyncio.sleep(min(_RETRY_INTERVAL_S, left))


async def ensure_role_and_schema(admin_url: str, spec: RoleSpec) -> None:
    connection = await connect_admin(admin_url)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _BOOTSTRAP_LOCK_KEY)
        await _ensure_role_and_schema(connection, spec)
    finally:
        await connection.close()


async def _ensure_role_and_schema(connection: asyncpg.Connection, spec: RoleSpec) -> None:
    exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", spec.role)
    verb = "ALTER" if exists else "CREATE"
    statement = await connection.fetchval(
        f"SELECT format('{verb} ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
        "NOINHERIT PASSWORD %L', $1::text, $2::text)",
        spec.role,
        spec.password,
    )
    await connection.execute(statement)
    for template in (
        "CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I",
        "ALTER SCHEMA %I OWNER TO %I",
    ):
        sql = await connection.fetchval(
            f"SELECT format('{template}', $1::text, $2::text)", spec.schema, spec.role
        )
        await connection.execute(sql)
    for template in (
        # Nobody but the roles we grant may connect; each service role gets CONNECT alone.
        "REVOKE ALL ON DATABASE %1$I FROM PUBLIC",
        "GRANT CONNECT ON DATABASE %1$I TO %2$I",
        "REVOKE ALL ON SCHEMA public FROM %2$I",
        "ALTER ROLE %2$I IN DATABASE %1$I SET search_path = %3$I",
    ):
        sql = await connection.fetchval(
            f"SELECT format('{template}', $1::text, $2::text, $3::text)",
            spec.database,
            spec.role,
            spec.schema,
        )
        await connection.execute(sql)
    await connection.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
    log.info("role and schema ready", extra={"role": spec.role, "schema": spec.schema})


async def bootstrap_database(
    settings: ServiceSettings, admin_url: str, script_location: str, *, wait_s: float = 0.0
) -> None:
    """Create the role and schema if needed, then migrate to head as the service role, under
    the bootstrap lock throughout. `wait_s`: how long to wait for the database to answer."""
    spec = role_spec(settings)
    admin = await connect_admin(admin_url, wait_s)
    try:
        started = time.monotonic()
        await admin.execute("SELECT pg_advisory_lock($1)", _BOOTSTRAP_LOCK_KEY)
        waited = time.monotonic() - started
        if waited >= 1.0:
            log.info("bootstrap lock taken", extra={"waited_s": round(waited, 1)})
        await _ensure_role_and_schema(admin, spec)
        await _migrate(settings, spec, script_location)
    finally:
        await admin.close()  # releases the lock
    log.info("migrations at head", extra={"schema": spec.schema})


async def _migrate(settings: ServiceSettings, spec: RoleSpec, script_location: str) -> None:
    engine = create_async_engine(
        settings.database_url.get_secret_value(),
        poolclass=NullPool,
        hide_parameters=True,  # as every engine: errors never carry the values
        connect_args={"server_settings": {"search_path": spec.schema}},
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_to_head, script_location, spec.schema)
    finally:
        await engine.dispose()


def _asyncpg_dsn(url: str) -> str:
    """asyncpg wants a plain postgresql:// URL, without SQLAlchemy's driver suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
