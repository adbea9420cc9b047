"""The command line every service shares: `python -m <service> {serve,bootstrap,...}`.

Errors end with a one-line message and a non-zero exit, never a traceback: a bad setting
names the variable, an unreachable database says so.

`bootstrap` connects as a database administrator, whose URL (with its password) it reads from
the file named by `ADMIN_DATABASE_URL_FILE` (a mounted Secret: on Kubernetes, the migration
Job's), or else from `ADMIN_DATABASE_URL` (the local stack). A file keeps the password out of
the process environment, which `kubectl describe`, /proc and crash reports show.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from fastapi import FastAPI
from pydantic import ValidationError

from servicekit.logging import configure_logging
from servicekit.server import serve
from servicekit.settings import ServiceSettings, load_settings

__all__ = ["ServiceCli", "admin_database_url"]

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
Command = Callable[[SettingsT], Coroutine[Any, Any, None]]

log = logging.getLogger(__name__)


@dataclass
class ServiceCli(Generic[SettingsT]):
    settings_type: type[SettingsT]
    build_app: Callable[[SettingsT], FastAPI]
    migrations: str | None
    """Alembic script location as `package:folder`, e.g. `identity:migrations`; None for a
    service that owns no schema (it has no `bootstrap` command)."""
    commands: Mapping[str, Command[SettingsT]] = field(default_factory=dict)
    program: str | None = None
    """The name in usage lines (default: `python -m <the migrations' package>`)."""

    def main(self, argv: list[str] | None = None) -> int:
        program = self.program or f"python -m {(self.migrations or '').split(':')[0]}"
        parser = argparse.ArgumentParser(prog=program)
        sub = parser.add_subparsers(dest="command", required=True)
        sub.add_parser("serve", help="run the HTTP server (SIGTERM drains and exits 0)")
        if self.migrations is not None:
            bootstrap = sub.add_parser(
                "bootstrap",
                help="create the role and schema (needs ADMIN_DATABASE_URL_FILE or "
                "ADMIN_DATABASE_URL) and run migrations",
            )
            bootstrap.add_argument(
                "--wait-for-database",
                type=float,
                default=0.0,
                metavar="SECONDS",
                help="retry a database that does not answer yet for up to this long (default: 0)",
            )
        for name, command in self.commands.items():
            sub.add_parser(name, help=(command.__doc__ or name).strip().splitlines()[0])
        args = parser.parse_args(argv)
        try:
            settings = load_settings(self.settings_type)
        except ValidationError as error:
            for problem in error.errors():
                variable = "_".join(str(part) for part in problem["loc"]).upper()
                print(f"error: setting {variable}: {problem['msg']}", file=sys.stderr)
            return 2
        configure_logging(
            settings.service_name, settings.service_version, settings.log_level, settings.log_format
        )
        try:
            if args.command == "serve":
                started = time.perf_counter()
                app = self.build_app(settings)
                log.info("app built", extra={"build_s": round(time.perf_counter() - started, 3)})
                serve(app, settings)
            elif args.command == "bootstrap":
                asyncio.run(self._bootstrap(settings, args.wait_for_database))
            else:
                asyncio.run(self.commands[args.command](settings))
        except (OSError, ConnectionError) as error:
            print(f"error: {args.command}: cannot reach a dependency: {error}", file=sys.stderr)
            return 1
        except CommandFailed as error:
            print(f"error: {args.command}: {error}", file=sys.stderr)
            return 1
        return 0

    async def _bootstrap(self, settings: SettingsT, wait_s: float = 0.0) -> None:
        assert self.migrations is not None  # the command exists only then
        # Imported here: bootstrap brings alembic (and its templates' mako), which `serve`
        # never needs (tests/test_serve_imports.py).
        from servicekit.db.bootstrap import bootstrap_database

        await bootstrap_database(
            settings, admin_database_url(os.environ), self.migrations, wait_s=wait_s
        )


def admin_database_url(environ: Mapping[str, str]) -> str:
    """The administrator's database URL: the content of the file `ADMIN_DATABASE_URL_FILE`
    names, or `ADMIN_DATABASE_URL`; raises CommandFailed (never showing the URL) when neither
    or both are set, or the file cannot be read or is empty."""
    path, value = environ.get("ADMIN_DATABASE_URL_FILE"), environ.get("ADMIN_DATABASE_URL")
    if path and value:
        raise CommandFailed("set ADMIN_DATABASE_URL_FILE or ADMIN_DATABASE_URL, not both")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise CommandFailed(f"ADMIN_DATABASE_URL_FILE {path}: {reason}") from None
        if not value:
            raise CommandFailed(f"ADMIN_DATABASE_URL_FILE {path} is empty")
        return value
    if not value:
        raise CommandFailed("neither ADMIN_DATABASE_URL_FILE nor ADMIN_DATABASE_URL is set")
    return value


class CommandFailed(Exception):
    """A command could not do its job; the message says why, for a human."""
