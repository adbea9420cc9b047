"""`python -m catalog bootstrap` where the chart's `migration.mode: initContainer` runs it: in
every pod at once, possibly before the database answers."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from catalog.settings import CatalogSettings
from devstack.stack import Stack
from servicekit.db.bootstrap import bootstrap_database


def _settings(service_url: str, test_stack: Stack) -> CatalogSettings:
    return CatalogSettings(
        database_url=service_url,
        jwks_url="http://127.0.0.1:9/.well-known/jwks.json",
        **test_stack.kafka_admin_settings(),
        log_format="console",
        environment="test",
    )


async def test_replicas_bootstrapping_an_empty_database_at_once_all_succeed(
    scratch_database: Callable[[str, str], tuple[str, str]], test_stack: Stack
) -> None:
    # A database of its own each run: an already migrated one would leave nothing to race on.
    admin_url, service_url = scratch_database(f"catalog_race_{secrets.token_hex(3)}", "catalog")
    settings = _settings(service_url, test_stack)
    # Three pods' init containers: without the lock held across the migrations, they race on
    # CREATE ROLE and on the first migration's tables.
    await asyncio.gather(
        *(bootstrap_database(settings, admin_url, "catalog:migrations") for _ in range(3))
    )
    plain = make_url(service_url).set(drivername="postgresql")
    connection = await asyncpg.connect(plain.render_as_string(hide_password=False))
    try:
        versions = await connection.fetch("SELECT version_num FROM catalog.alembic_version")
        assert len(versions) == 1
        assert await connection.fetchval("SELECT count(*) FROM catalog.products") == 0
    finally:
        await connection.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_database_that_never_answers_is_waited_for_with_a_log_line_then_named(
    test_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    port = _closed_port()
    url = f"postgresql+asyncpg://catalog:pw@127.0.0.1:{port}/flotilla"
    caplog.set_level(logging.WARNING, logger="servicekit.db.bootstrap")
    with pytest.raises(ConnectionError, match=r"does not answer \(waited 3s, \d+ attempts\)"):
        await bootstrap_database(_settings(url, test_stack), url, "catalog:migrations", wait_s=3.0)
    retries = [
        r for r in caplog.records if r.getMessage() == "database not reachable yet, retrying"
    ]
    assert retries, caplog.text


def test_the_command_ends_with_one_line_and_exit_1_after_its_bounded_wait(
    test_stack: Stack,
) -> None:
    port = _closed_port()
    url = f"postgresql+asyncpg://catalog:pw@127.0.0.1:{port}/flotilla"
    env = {
        **os.environ,
        **test_stack.kafka_admin_env(),
        "DATABASE_URL": url,
        "ADMIN_DATABASE_URL": url,
        "JWKS_URL": "http://127.0.0.1:9/.well-known/jwks.json",
        "ENVIRONMENT": "test",
        "LOG_FORMAT": "console",
    }
    result = subprocess.run(
        [sys.executable, "-m", "catalog", "bootstrap", "--wait-for-database", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: bootstrap: cannot reach a dependency: the database does not"), (
        result.stderr
    )
    assert "Traceback" not in result.stderr
