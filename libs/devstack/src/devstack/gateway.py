"""The local gateway: nginx in front of every service, configured from `deploy/routes.yaml`
(`devstack.routes`) with the config `devstack.nginx_conf` renders; started, reloaded when the
route table changed, and stopped with the stack.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from devstack.nginx_conf import PORTAL_FILE, render_nginx_conf
from devstack.portal import render_portal, schema_files
from devstack.process import ManagedProcess, port_open
from devstack.profiles import Profile
from devstack.routes import Route, load_routes

__all__ = ["Gateway", "GatewayError"]


class GatewayError(RuntimeError):
    """nginx rejected its configuration or did not come up; the message carries its output."""


class Gateway:
    """nginx for one profile, its files under `<profile root>/gateway/`."""

    def __init__(self, profile: Profile, routes: Sequence[Route] | None = None) -> None:
        self.profile = profile
        self.routes = tuple(load_routes() if routes is None else routes)
        self.directory = profile.root / "gateway"
        self.conf_file = self.directory / "nginx.conf"
        self.access_log = self.directory / "access.log"
        self.error_log = self.directory / "error.log"
        self.process = ManagedProcess(
            name="gateway",
            pid_file=profile.pids / "gateway.pid",
            log_file=profile.logs / "gateway.log",
        )

    @property
    def url(self) -> str:
        return self.profile.gateway_url

    def write_config(self) -> Path:
        for folder in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.directory / "tmp" / folder).mkdir(parents=True, exist_ok=True)
        self._write_portal()
        self.conf_file.write_text(render_nginx_conf(self.profile, self.routes, self.directory))
        return self.conf_file

    def _write_portal(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        page = render_portal(self.routes, schema_files())
        (self.directory / PORTAL_FILE).write_text(page)

    def validate(self) -> None:
        """`nginx -t` on the written config; raises GatewayError with nginx's output."""
        result = subprocess.run(
            self._argv("-t", "-q"), capture_output=True, text=True, timeout=30, check=False
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise GatewayError(f"nginx rejected {self.conf_file}:\n{output}")

    def start(self, timeout: float = 15.0) -> None:
        """Write and validate the config, start nginx, wait until its port accepts connections.

        When nginx already runs, a changed route table is applied with a reload.
        """
        if self.is_running():
            self.reload_if_changed()
            return
        self.write_config()
        self.validate()
        if port_open(self.profile.host, self.profile.gateway_port):
            raise GatewayError(
                f"port {self.profile.gateway_port} is already in use by another process"
            )
        self.process.start(self._argv())
        deadline = time.monotonic() + timeout
        while not port_open(self.profile.host, self.profile.gateway_port):
            if not self.process.is_running():
                raise GatewayError(f"nginx exited at start:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.process.stop()
                raise GatewayError(
                    f"nginx did not listen on port {self.profile.gateway_port} "
                    f"within {timeout:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def reload_if_changed(self, timeout: float = 15.0) -> bool:
        """Rewrite the config and reload a running nginx when it changed; True if reloaded.

        Returns once new connections are served by the new route table.
        """
        self._write_portal()  # read per request: a new page needs no reload
        wanted = render_nginx_conf(self.profile, self.routes, self.directory)
        if self.conf_file.exists() and self.conf_file.read_text() == wanted:
            return False
        self.write_config()
        self.validate()
        master = self.pid()
        retiring = set(_workers_of(master)) if master is not None else set()
        result = subprocess.run(
            self._argv("-s", "reload"), capture_output=True, text=True, timeout=30, check=False
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise GatewayError(f"nginx did not reload {self.conf_file}:\n{output}")
        self._wait_for_new_workers(retiring, timeout)
        return True

    def _wait_for_new_workers(self, retiring: set[int], timeout: float) -> None:
        """A reload is applied once a new worker runs and every old one stopped accepting.

        `nginx -s reload` only signals the master: until each old worker has handled
        its quit signal (it renames itself "... is shutting down" and closes its listening
        sockets in the same step), a new connection may still reach the old routes.
        """
        master = self.pid()
        deadline = time.monotonic() + timeout
        while True:
            workers = _workers_of(master) if master is not None else {}
            fresh = set(workers) - retiring
            still_accepting = [
                pid for pid in retiring if pid in workers and "shutting down" not in workers[pid]
            ]
            if fresh and not still_accepting:
                return
            if time.monotonic() > deadline:
                raise GatewayError(
                    f"nginx did not switch to the reloaded {self.conf_file} within "
                    f"{timeout:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        self.process.stop(timeout)

    def kill(self) -> None:
        self.process.kill()

    def is_running(self) -> bool:
        return self.process.is_running()

    def pid(self) -> int | None:
        return self.process.pid()

    def log_tail(self, lines: int = 30) -> str:
        parts = [self.process.log_tail(lines)]
        if self.error_log.exists():
            parts.append(
                "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])
            )
        return "\n".join(part for part in parts if part and part != "(no log)") or "(no log)"

    def _argv(self, *extra: str) -> list[str]:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        return [nginx, "-p", f"{self.directory}/", "-c", str(self.conf_file), *extra]


def _workers_of(master: int) -> dict[int, str]:
    """The children of nginx's master process, by pid, with their process titles."""
    workers: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited while we looked
        # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1 and fields[1] == str(master):
            workers[int(entry.name)] = title.strip()
    return workers
