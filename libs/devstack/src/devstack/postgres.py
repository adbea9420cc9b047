"""A Postgres cluster in a local folder, run with the Postgres 15 binaries.

Postgres refuses to run as root. When devstack runs as root, every server-side command
(`initdb`, `pg_ctl`) runs as the `postgres` system user through `runuser`, and the folders the
server writes (data, socket, log file) are handed to that user. Clients (`psql`) connect over TCP
with the superuser password, so they run as whoever we are.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import signal
import stat
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from devstack.process import wait_for_frozen_state

__all__ = ["DEFAULT_BIN_DIR", "PostgresCluster", "PostgresError"]

DEFAULT_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
_SERVER_USER = "postgres"
_SUPERUSER = "postgres"
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_CONF_FILE = "devstack.conf"


class PostgresError(RuntimeError):
    """The cluster could not be initialised, started, stopped or queried; the message says why."""


class PostgresCluster:
    """One cluster: `data_dir` holds its files; the socket lives next to it in `socket/`."""

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int,
        log_file: Path,
        superuser_password: str,
        host: str = "127.0.0.1",
        bin_dir: Path = DEFAULT_BIN_DIR,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.log_file = log_file.resolve()
        self.host = host
        self.bin_dir = bin_dir
        self._password = superuser_password

    @property
    def socket_dir(self) -> Path:
        return self.data_dir.parent / "socket"

    # -- lifecycle -------------------------------------------------------------------------

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def init(self) -> None:
        """Create the cluster once (superuser `postgres`, scram-sha-256, UTF8); a no-op after."""
        if self.is_initialised():
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise PostgresError(f"{self.data_dir} is not empty but holds no Postgres cluster")
        self._prepare_dir(self.data_dir)
        self._check_reachable(self.data_dir)
        pwfile = self.data_dir.parent / f".pwfile-{secrets.token_hex(8)}"
        try:
            fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(self._password + "\n")
            self._give_to_server_user(pwfile)
            self._run_server_tool(
                [
                    str(self.bin_dir / "initdb"),
                    f"--pgdata={self.data_dir}",
                    f"--username={_SUPERUSER}",
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                what="initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# devstack rewrites this file at every start.\n")
            conf.write(f"include_if_exists = '{_CONF_FILE}'\n")

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it accepts connections; a no-op if it runs."""
        if not self.is_initialised():
            raise PostgresError(f"no cluster in {self.data_dir}: call init() first")
        if self.is_running():
            return
        self._remove_stale_lock()
        self._prepare_dir(self.socket_dir)
        self._prepare_log_file()
        conf = self.data_dir / _CONF_FILE
        conf.write_text(self._settings())
        self._give_to_server_user(conf)
        try:
            self._run_server_tool(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "start",
                    "--wait",
                    f"--timeout={max(1, round(timeout))}",
                    "--silent",
                    f"--pgdata={self.data_dir}",
                    f"--log={self.log_file}",
                ],
                what="pg_ctl start",
                timeout=timeout + 10,
            )
        except PostgresError as error:
            raise PostgresError(f"{error}\n--- {self.log_file} ---\n{self.log_tail()}") from None

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (sessions are cut, no crash recovery needed); kills what is left."""
        if self.is_running():
            try:
                self._run_server_tool(
                    [
                        str(self.bin_dir / "pg_ctl"),
                        "stop",
                        "--wait",
                        f"--timeout={max(1, round(timeout))}",
                        "--silent",
                        "--mode=fast",
                        f"--pgdata={self.data_dir}",
                    ],
                    what="pg_ctl stop",
                    timeout=timeout + 10,
                )
            except PostgresError:
                self.kill()
        self._kill_orphans()

    def kill(self) -> None:
        """SIGKILL the postmaster and its children at once, as a crash of the host would.

        The next `start()` runs crash recovery from the write-ahead log.
        """
        pid = self.pid()
        if pid is not None:
            _kill(pid)
            # Waited for by its pid: a process being torn down has already let go of its
            # working directory, so the search by folder below no longer finds it, while it is
            # not yet a zombie either and would still read as running.
            _wait_gone([pid], 10.0)
        self._kill_orphans()

    def freeze(self) -> None:
        """SIGSTOP the postmaster and every backend: connections stay open and nothing
        answers, as on a stalled disk or a paused VM (fault tests). `thaw()` resumes them."""
        postmaster = self.pid()
        if postmaster is not None:
            _signal(postmaster, signal.SIGSTOP)  # first, so it forks no backend we would miss
            wait_for_frozen_state(postmaster, frozen=True)
        for pid in _processes_in(self.data_dir):
            _signal(pid, signal.SIGSTOP)
            wait_for_frozen_state(pid, frozen=True)

    def thaw(self) -> None:
        """SIGCONT what `freeze()` stopped: the backends first, then the postmaster."""
        postmaster = self.pid()
        for pid in _processes_in(self.data_dir):
            if pid != postmaster:
                _signal(pid, signal.SIGCONT)
        if postmaster is not None:
            _signal(postmaster, signal.SIGCONT)
            wait_for_frozen_state(postmaster, frozen=False)

    def _remove_stale_lock(self) -> None:
        """Drop the lock files (`postmaster.pid`, the socket's) left by a killed server.

        Postgres ignores a lock whose pid is gone, but not one whose pid is a zombie that init has
        not reaped yet (or a reused pid): it would refuse to start.
        """
        if _processes_in(self.data_dir):
            return
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        if self.socket_dir.is_dir():
            for leftover in self.socket_dir.glob(".s.PGSQL.*"):
                leftover.unlink(missing_ok=True)

    def _kill_orphans(self) -> None:
        """SIGKILL every process still working in this cluster's data folder."""
        leftovers = _processes_in(self.data_dir)
        for pid in leftovers:
            _kill(pid)
        _wait_gone(leftovers, 10.0)

    def pid(self) -> int | None:
        """The postmaster's pid when it runs (read from `postmaster.pid`)."""
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first_line)
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_postgres(pid) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # -- clients ---------------------------------------------------------------------------

    def admin_dsn(self, database: str = "postgres", driver: str = "postgresql") -> str:
        """The superuser's URL, e.g. `postgresql+asyncpg://postgres:<pw>@127.0.0.1:5432/db`."""
        password = quote(self._password, safe="")
        return f"{driver}://{_SUPERUSER}:{password}@{self.host}:{self.port}/{database}"

    def ensure_database(self, name: str) -> None:
        """Create database `name` unless it exists (idempotent)."""
        if not _DATABASE_NAME.match(name):
            raise PostgresError(f"invalid database name {name!r}")
        script = (
            "SELECT format('CREATE DATABASE %I', :'name') "
            "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name')\\gexec\n"
        )
        self.psql(script, variables={"name": name})

    def psql(
        self, script: str, *, database: str = "postgres", variables: dict[str, str] | None = None
    ) -> str:
        """Run `script` through psql as the superuser; returns its output, raises on error."""
        argv = [
            self._psql_binary(),
            "--no-psqlrc",
            "--quiet",
            "--tuples-only",
            "--no-align",
            "--set=ON_ERROR_STOP=1",
            f"--host={self.host}",
            f"--port={self.port}",
            f"--username={_SUPERUSER}",
            f"--dbname={database}",
        ]
        argv += [f"--set={key}={value}" for key, value in (variables or {}).items()]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PGPASSWORD": self._password,
            "PGCONNECT_TIMEOUT": "5",
            "LANG": "C.UTF-8",
        }
        result = subprocess.run(
            argv, input=script, capture_output=True, text=True, env=env, timeout=60, check=False
        )
        if result.returncode != 0:
            raise PostgresError(f"psql failed (exit {result.returncode}): {result.stderr.strip()}")
        return result.stdout

    # -- helpers ---------------------------------------------------------------------------

    def _settings(self) -> str:
        def quoted(value: str) -> str:
            return "'" + value.replace("'", "''") + "'"

        settings = {
            "listen_addresses": quoted(self.host),
            "port": str(self.port),
            "unix_socket_directories": quoted(str(self.socket_dir)),
            "max_connections": "200",
            "shared_buffers": "'128MB'",
            "log_min_messages": "warning",
            "log_line_prefix": quoted("%m [%p] %q%u@%d "),
            "logging_collector": "off",
            "timezone": "'UTC'",
            "log_timezone": "'UTC'",
        }
        return "".join(f"{key} = {value}\n" for key, value in settings.items())

    def _psql_binary(self) -> str:
        bundled = self.bin_dir / "psql"
        return str(bundled) if bundled.exists() else "psql"

    def _run_server_tool(self, argv: Sequence[str], *, what: str, timeout: float = 120.0) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        command = [*_as_server_user(), *argv]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env,
                cwd=self.data_dir.parent,  # postgres must be able to read its working directory
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PostgresError(f"{what} did not finish within {timeout:.0f}s") from None
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise PostgresError(f"{what} failed (exit {result.returncode}): {output}")

    def _prepare_dir(self, path: Path) -> None:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._give_to_server_user(path)

    def _prepare_log_file(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.touch(exist_ok=True)
        self._give_to_server_user(self.log_file)

    def _give_to_server_user(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        user = pwd.getpwnam(_SERVER_USER)
        os.chown(path, user.pw_uid, user.pw_gid)

    def _check_reachable(self, path: Path) -> None:
        """Fail clearly when the postgres user cannot traverse one of `path`'s parents."""
        if os.geteuid() != 0:
            return
        user = pwd.getpwnam(_SERVER_USER)
        groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
        for folder in reversed(path.parents):
            info = folder.stat()
            if info.st_uid == user.pw_uid:
                allowed = bool(info.st_mode & stat.S_IXUSR)
            elif info.st_gid in groups:
                allowed = bool(info.st_mode & stat.S_IXGRP)
            else:
                allowed = bool(info.st_mode & stat.S_IXOTH)
            if not allowed:
                raise PostgresError(
                    f"the {_SERVER_USER!r} user cannot traverse {folder} to reach {path}: "
                    f"make it traversable (chmod o+x) or keep the cluster elsewhere"
                )


def _as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", _SERVER_USER, "--"]


def _is_postgres(pid: int) -> bool:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return comm in {"postgres", "postmaster"} and state != "Z"


def _processes_in(data_dir: Path) -> list[int]:
    """Postgres processes whose working directory is `data_dir` (postmaster and children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) != data_dir:
                continue
        except OSError:
            continue
        pid = int(entry.name)
        if _is_postgres(pid):
            found.append(pid)
    return found


def _kill(pid: int) -> None:
    _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pids: Sequence[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_is_postgres(pid) for pid in pids):
        time.sleep(0.05)
