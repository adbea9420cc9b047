"""Background processes that outlive the command that started them.

Each process is tracked by a pid file and writes to a log file of its own, so
`devstack down` (a later, separate command) can find and stop everything that
`devstack up` started, and nothing is left behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = [
    "ManagedProcess",
    "ProcessError",
    "free_port",
    "http_ok",
    "is_frozen",
    "port_open",
    "wait_for_frozen_state",
]


# Popen objects of the children this process started, kept so that they are reaped through
# Popen (no "still running" ResourceWarning when the object would be collected).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ProcessError(RuntimeError):
    """A managed process failed to start or stop; the message names its log file."""


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    pid_file: Path
    log_file: Path

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        """Start `argv` detached in its own session; a no-op if already running."""
        existing = self.pid()
        if existing is not None:
            return existing
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        _CHILDREN[proc.pid] = proc
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc.pid

    def exited_early(self) -> bool:
        """True when a pid file exists but its process is gone (it crashed at start)."""
        return self.pid_file.exists() and self.pid() is None

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> str | None:
        """Poll `ready` until it holds (None), or say why not — the process exited or
        `timeout` passed — with the last lines of its log."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.exited_early():
                return f"{self.name} exited:\n{self.log_tail()}"
            if time.monotonic() > deadline:
                return f"{self.name} was not ready within {timeout:g} s:\n{self.log_tail()}"
            time.sleep(0.1)
        return None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group, wait, then SIGKILL what is left."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            _signal_group(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL at once, as a crash would: used by fault tests."""
        pid = self.pid()
        if pid is not None:
            _signal_group(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
        self.pid_file.unlink(missing_ok=True)

    def freeze(self) -> None:
        """SIGSTOP the process group: it keeps its sockets open and answers nothing, as a
        stalled disk or a paused VM would (fault tests); `thaw()` resumes it. Returns once the
        process is stopped: a signal is delivered when its target is next scheduled, which on a
        busy machine is after `kill()` returned."""
        pid = self.pid()
        if pid is not None:
            _signal_group(pid, signal.SIGSTOP)
            wait_for_frozen_state(pid, frozen=True)

    def thaw(self) -> None:
        """SIGCONT the process group after `freeze()`; returns once the process runs again."""
        pid = self.pid()
        if pid is not None:
            _signal_group(pid, signal.SIGCONT)
            wait_for_frozen_state(pid, frozen=False)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def is_frozen(pid: int) -> bool:
    """Whether `pid` is stopped by a signal (state T), as `freeze()` leaves it."""
    return _state(pid) == "T"


def wait_for_frozen_state(pid: int, *, frozen: bool, timeout_s: float = 10.0) -> None:
    """Wait until `pid` is stopped (or runs again) after SIGSTOP (SIGCONT): a signal takes
    effect when its target is next scheduled, which on a busy machine is after `kill()`
    returned. A process that exits meanwhile (gone, or a zombie) needs no waiting."""
    deadline = time.monotonic() + timeout_s
    while (state := _state(pid)) not in (None, "Z") and (state == "T") != frozen:
        if time.monotonic() > deadline:
            wanted = "stopped" if frozen else "running again"
            raise RuntimeError(f"process {pid} was not {wanted} {timeout_s:g} s after the signal")
        time.sleep(0.01)


def _state(pid: int) -> str | None:
    """The process's state letter from /proc (R, S, D, T, Z, …), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[-1].split()[0]


def http_ok(url: str) -> bool:
    """Whether GET `url` answers 200 within 2 s (a readiness probe)."""
    try:
        return httpx.get(url, timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); reap it if it is ours.
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return _not_zombie(pid)
    return reaped == 0


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it), for throwaway servers in tests."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
