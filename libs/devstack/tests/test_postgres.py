"""A throwaway cluster: init, start, ensure_database, connect, crash, recover, stop."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from devstack.postgres import PostgresCluster, PostgresError
from devstack.process import free_port, is_frozen

PASSWORD = "s3cret-'with quote"


@pytest.fixture
def cluster_root() -> Iterator[Path]:
    """A folder the `postgres` user can reach, for the server's data, socket and log.

    Not under tmp_path: pytest keeps its base folder at mode 0700 (and every pytest session
    started meanwhile, e.g. another engineer's, resets it), so postgres could not traverse it.
    """
    root = Path(tempfile.mkdtemp(prefix="devstack-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cluster(cluster_root: Path) -> Iterator[PostgresCluster]:
    pg = PostgresCluster(
        data_dir=cluster_root / "data",
        port=free_port(),
        log_file=cluster_root / "postgres.log",
        superuser_password=PASSWORD,
    )
    yield pg
    pg.kill()


async def _databases(pg: PostgresCluster) -> set[str]:
    conn = await asyncpg.connect(
        host="127.0.0.1", port=pg.port, user="postgres", password=PASSWORD, database="postgres"
    )
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database")
    finally:
        await conn.close()
    return {row["datname"] for row in rows}


async def test_cluster_lifecycle(cluster: PostgresCluster) -> None:
    cluster.init()
    cluster.init()  # a no-op the second time
    assert not cluster.is_running()

    cluster.start()
    cluster.start()  # a no-op while running
    assert cluster.is_running()

    cluster.ensure_database("flotilla")
    cluster.ensure_database("flotilla")
    assert "flotilla" in await _databases(cluster)

    cluster.kill()
    assert not cluster.is_running()

    cluster.start()  # crash recovery
    assert "flotilla" in await _databases(cluster)

    cluster.stop()
    assert not cluster.is_running()
    with pytest.raises(ConnectionRefusedError):  # nothing listens any more
        socket.create_connection(("127.0.0.1", cluster.port), timeout=1).close()
    cluster.stop()  # a no-op when stopped


async def test_password_is_required(cluster: PostgresCluster) -> None:
    cluster.init()
    cluster.start()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(
            host="127.0.0.1", port=cluster.port, user="postgres", password="wrong"
        )
    cluster.stop()


def test_admin_dsn_quotes_the_password(cluster: PostgresCluster) -> None:
    dsn = cluster.admin_dsn("flotilla", driver="postgresql+asyncpg")
    assert dsn == (
        f"postgresql+asyncpg://postgres:s3cret-%27with%20quote@127.0.0.1:{cluster.port}/flotilla"
    )


def test_invalid_database_name_is_refused(cluster: PostgresCluster) -> None:
    with pytest.raises(PostgresError, match="invalid database name"):
        cluster.ensure_database('x"; DROP')


def test_start_without_init_says_so(cluster: PostgresCluster) -> None:
    with pytest.raises(PostgresError, match=r"init\(\)"):
        cluster.start()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands folders to the postgres user")
def test_unreachable_folder_is_named(tmp_path: Path) -> None:
    hidden = Path(tempfile.mkdtemp(prefix="devstack-pg-hidden-"))  # mode 0700, owned by root
    try:
        pg = PostgresCluster(
            data_dir=hidden / "data",
            port=free_port(),
            log_file=hidden / "postgres.log",
            superuser_password=PASSWORD,
        )
        with pytest.raises(PostgresError, match=f"cannot traverse {hidden}"):
            pg.init()
    finally:
        shutil.rmtree(hidden, ignore_errors=True)


async def test_a_frozen_cluster_keeps_its_connections_and_answers_once_thawed(
    cluster: PostgresCluster,
) -> None:
    cluster.init()
    cluster.start()
    conn = await asyncpg.connect(
        host="127.0.0.1", port=cluster.port, user="postgres", password=PASSWORD, database="postgres"
    )
    try:
        cluster.freeze()
        postmaster = cluster.pid()
        assert postmaster is not None
        assert is_frozen(postmaster)
        with pytest.raises(TimeoutError):
            await conn.fetchval("SELECT 1", timeout=0.5)
        cluster.thaw()
        assert not is_frozen(postmaster)
        assert "postgres" in await _databases(cluster)  # new connections, and the old one:
        assert not conn.is_closed()
    finally:
        cluster.thaw()
        conn.terminate()
