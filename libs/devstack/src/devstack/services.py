"""One Flotilla service as the stack runs it: `python -m <service> {bootstrap,serve,...}`.

The process contract every service implements (through servicekit's CLI):
- `bootstrap` creates its Postgres role and schema and runs its migrations (idempotent);
- `serve` runs the HTTP server, ready when `GET /readyz` answers 200; SIGTERM drains and exits 0;
- further one-shot commands (e.g. identity's `ensure-admin`).
All of them read their settings from the environment built by `service_environment`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from devstack.process import ManagedProcess, http_ok, port_open
from devstack.profiles import Profile
from devstack.toolchain.catalog import CACHED_TOOLS

__all__ = ["Service", "ServiceError", "inherited_environment", "service_environment"]

# What a service inherits from the environment of `devstack up`: how to run a program, not how
# to configure a service (a stray DATABASE_URL or SECRETS_DIR in the shell must not leak in).
_INHERITED = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TERM",
        "TZ",
        "TMPDIR",
        "LANG",
        "LANGUAGE",
        "VIRTUAL_ENV",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    }
)
_INHERITED_PREFIXES = ("LC_", "PYTHON")

JWT_ISSUER = "flotilla-identity"
JWT_AUDIENCE = "flotilla"


class ServiceError(RuntimeError):
    """A service command failed or the server did not become ready; the message says why."""


def inherited_environment() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if key in _INHERITED or key.startswith(_INHERITED_PREFIXES)
    }


def service_environment(
    *,
    profile: Profile,
    service: str,
    port: int,
    prefix: str,
    database_password: str,
    identity_port: int,
    git_sha: str,
) -> dict[str, str]:
    """The environment every command of `service` runs with."""
    host = profile.host
    return {
        **inherited_environment(),
        "SERVICE_NAME": service,
        "HTTP_HOST": host,
        "HTTP_PORT": str(port),
        # The gateway serves the service under its prefix; FastAPI links its docs through it.
        "ROOT_PATH": prefix,
        "DATABASE_URL": (
            f"postgresql+asyncpg://{service}:{quote(database_password, safe='')}"
            f"@{host}:{profile.postgres_port}/flotilla"
        ),
        "DB_SCHEMA": service,
        "KAFKA_BOOTSTRAP_SERVERS": f"{host}:{profile.kafka_port}",
        # The gateway serves every event's JSON Schema; records name theirs (ce_dataschema).
        "EVENTS_SCHEMA_BASE_URL": f"{profile.gateway_url}/schemas",
        "ENVIRONMENT": "dev" if profile.name == "local" else "test",
        "LOG_FORMAT": "json",
        "GIT_SHA": git_sha,
        "JWKS_URL": f"http://{host}:{identity_port}/.well-known/jwks.json",
        "JWT_ISSUER": JWT_ISSUER,
        "JWT_AUDIENCE": JWT_AUDIENCE,
        "SMTP_HOST": host,
        "SMTP_PORT": str(profile.smtp_port),
        **_docs_assets(),
        **_trace_sampling(profile),
    }


def _trace_sampling(profile: Profile) -> dict[str, str]:
    if profile.trace_sampling is None:
        return {}
    return {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": f"{profile.trace_sampling:g}",
    }


def _docs_assets() -> dict[str, str]:
    """Swagger UI's and ReDoc's files for the docs pages, from the tool cache (`make up` and
    `make test` fetch them); without them the pages load no script, and never a CDN's."""
    folder = CACHED_TOOLS["docs-assets"].locate()
    return {"DOCS_ASSETS_DIR": str(folder)} if folder is not None else {}


class Service:
    """The `serve` process of one service plus its one-shot commands."""

    def __init__(
        self,
        *,
        name: str,
        port: int,
        env: Mapping[str, str],
        profile: Profile,
        python: str = sys.executable,
    ) -> None:
        self.name = name
        self.port = port
        self.host = profile.host
        self.env = dict(env)
        self.python = python
        self.process = ManagedProcess(
            name=name,
            pid_file=profile.pids / f"{name}.pid",
            log_file=profile.logs / f"{name}.log",
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.process.log_file

    def command(self, *args: str) -> list[str]:
        return [self.python, "-m", self.name, *args]

    def run(
        self, command: str, *, extra_env: Mapping[str, str] | None = None, timeout: float = 180.0
    ) -> str:
        """Run a one-shot command (`bootstrap`, `ensure-admin`, ...); returns its output."""
        argv = self.command(command)
        shown = f"python -m {self.name} {command}"
        try:
            result = subprocess.run(
                argv,
                env={**self.env, **(extra_env or {})},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ServiceError(f"`{shown}` did not finish within {timeout:.0f}s") from None
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0:
            raise ServiceError(
                f"`{shown}` failed (exit {result.returncode}):\n{_tail(output) or '(no output)'}"
            )
        return output

    def start(self, timeout: float = 60.0, poll_s: float = 0.25) -> None:
        """Start `serve` (a no-op if it runs) and wait until `/readyz` answers 200, asking every
        `poll_s` (bench/services.py times the start-up with a finer step)."""
        if not self.process.is_running() and port_open(self.host, self.port):
            raise ServiceError(
                f"{self.name}: port {self.port} is already in use by a process devstack "
                f"does not know (a leftover server?)"
            )
        self.process.start(self.command("serve"), env=self.env)
        self.wait_ready(timeout, poll_s)

    def wait_ready(self, timeout: float = 60.0, poll_s: float = 0.25) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.process.is_running():
                raise ServiceError(
                    f"{self.name} exited during start-up; last lines of {self.log_file}:\n"
                    f"{self.log_tail()}"
                )
            if self.is_ready():
                return
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{self.name} was not ready within {timeout:.0f}s "
                    f"(GET {self.url}/readyz); last lines of {self.log_file}:\n{self.log_tail()}"
                )
            time.sleep(poll_s)

    def is_ready(self) -> bool:
        return http_ok(f"{self.url}/readyz")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the server drains), wait, then SIGKILL what is left."""
        self.process.stop(timeout)

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL, as a crash would; returns once the port is free again (a killed process's
        threads can hold its listening socket a moment after the process is reaped)."""
        self.process.kill()
        deadline = time.monotonic() + timeout
        while port_open(self.host, self.port):
            if time.monotonic() > deadline:
                raise ServiceError(f"{self.name}: port {self.port} still open after SIGKILL")
            time.sleep(0.05)

    def is_running(self) -> bool:
        return self.process.is_running()

    def pid(self) -> int | None:
        return self.process.pid()

    def log_tail(self, lines: int = 30) -> str:
        return self.process.log_tail(lines)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])
