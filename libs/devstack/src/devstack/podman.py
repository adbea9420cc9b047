"""podman and buildah on this host: the packages, the settings, and long steps that say so.

There is no Docker engine here, and two host limits break podman's defaults (cgroups v1 in
hybrid mode, which crun refuses; an open-files hard limit root cannot raise), so every call
runs with `CONTAINERS_CONF` pointing at `deploy/images/containers.conf` (runc, cgroupfs,
ulimits this host allows). Builds take minutes on a shared 2-core machine, so each long step
runs under `nice`, prints a line when it starts (what, and roughly how long) and a heartbeat
every 10 s with the last line of its log, and on failure raises with the log's tail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.process import ProcessError
from devstack.profiles import REPO_ROOT

__all__ = [
    "CONTAINERS_CONF",
    "HOST_PACKAGES",
    "ensure_host_packages",
    "image_exists",
    "image_size",
    "podman",
    "podman_env",
    "run_step",
    "say",
]

CONTAINERS_CONF = REPO_ROOT / "deploy" / "images" / "containers.conf"
# Debian packages `make images` needs on the host (containers' own, and the rootfs bootstrap).
HOST_PACKAGES = (
    "podman",
    "buildah",
    "mmdebstrap",
    "runc",
    "containernetworking-plugins",
    "conmon",
)
_HEARTBEAT_S = 10.0
_NICE = ("nice", "-n", "10")


def say(message: str) -> None:
    print(message, flush=True)


def podman_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    env.update(extra or {})
    return env


def ensure_host_packages() -> None:
    """apt-get install the host packages that are missing (root, or through sudo)."""
    missing = [p for p in HOST_PACKAGES if not _installed(p)]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    # Another engineer's make target may hold dpkg's lock: wait for it rather than fail.
    apt = [*sudo, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-o",
           "DPkg::Lock::Timeout=300"]  # fmt: skip
    log = REPO_ROOT / ".run" / "images" / "apt.log"
    run_step([*apt, "update", "-qq"], "apt-get update", "~15 s", log, nice=False)
    run_step([*apt, "install", "-y", "-qq", *missing], f"installing {' '.join(missing)}",
             "~30 s", log, nice=False)  # fmt: skip


def _installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Status}", package],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.stdout.strip() == "installed"


def run_step(
    argv: Sequence[str],
    what: str,
    expected: str,
    log: Path,
    *,
    nice: bool = True,
    cwd: Path | None = None,
) -> None:
    """Run `argv` with its output appended to `log`, announcing it and beating every 10 s."""
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"==> {what} (expect {expected}; log {_shown(log)})")
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"\n===== {time.strftime('%H:%M:%S')} {what}: {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.Popen(
            [*(_NICE if nice else ()), *argv],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=podman_env(), cwd=cwd,
        )  # fmt: skip
        while True:
            try:
                code = proc.wait(timeout=_HEARTBEAT_S)
                break
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - started
                say(f"    ... {what}: {elapsed:.0f} s  | {_last_line(log)[:110]}")
    elapsed = time.monotonic() - started
    if code != 0:
        raise ProcessError(
            f"{what} failed (exit {code}) after {elapsed:.0f} s: {' '.join(argv)}\n"
            f"--- last lines of {log} ---\n{_tail(log, 40)}"
        )
    say(f"    done: {what} in {elapsed:.0f} s")


def podman(*args: str) -> str:
    """A short podman command (no heartbeat); its stdout. Raises ProcessError on failure."""
    if shutil.which("podman") is None:
        raise ProcessError("podman is not installed: `make images` installs it")
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=False, env=podman_env()
    )
    if result.returncode != 0:
        raise ProcessError(f"podman {' '.join(args)} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def image_exists(ref: str) -> bool:
    result = subprocess.run(
        ["podman", "image", "exists", ref], capture_output=True, check=False, env=podman_env()
    )
    return result.returncode == 0


def image_size(ref: str) -> int:
    """Bytes of the image's layers, uncompressed (what `podman images` shows)."""
    return int(podman("image", "inspect", "--format", "{{.Size}}", ref).strip())


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _last_line(log: Path) -> str:
    lines = _tail(log, 1).splitlines()
    return lines[-1].strip() if lines else ""


def _tail(log: Path, count: int) -> str:
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 16_000))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-count:])
