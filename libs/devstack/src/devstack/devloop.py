"""The local loop for one service of a running stack (`make restart`, `make dev`).

`restart` stops the stack's copy of one service (SIGTERM, it drains) and starts it again from
the current code, returning once its `/readyz` answers 200.

`dev` stops the stack's copy and runs the service from source in the foreground instead, under
uvicorn's `--reload`: on the port, with the environment and secrets the stack gives it, so the
gateway and the other services reach it as before, and every saved change under the
service's `src/` (or servicekit's and contracts') restarts the worker. Ctrl-C stops it; the
stack's copy is not started again by itself (`make restart SERVICE=<name>` does that).

Both refuse an unknown service name and a stack that is not up, with a message saying what
to do. The reloaded app is built by `devstack.dev_app`, the same `build_app` as `serve`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from devstack.process import port_open
from devstack.profiles import REPO_ROOT, Profile
from devstack.stack import Stack, StackError

__all__ = ["dev", "dev_command", "require_running", "require_service", "restart", "up_command"]

SERVICE_VARIABLE = "FLOTILLA_DEV_SERVICE"

Progress = Callable[[str], None]


def up_command(profile: Profile) -> str:
    if profile.name == "local":
        return "make up"
    return f"python -m devstack up --profile {profile.name}"


def require_service(stack: Stack, name: str) -> None:
    """Raise a StackError naming the known services when `name` is not one of them."""
    if name not in stack.service_names:
        raise StackError(
            f"unknown service {name!r}; the services are {', '.join(stack.service_names)}"
        )


def require_running(stack: Stack) -> None:
    """Raise a StackError when the stack's shared parts (Postgres, Kafka, the gateway) are not
    all running: a single service cannot be run against half a platform."""
    profile = stack.profile
    if not profile.root.exists():
        missing = ["postgres", "kafka", "gateway"]
    else:
        missing = [
            name
            for name, running in (
                ("postgres", stack.postgres.is_running()),
                ("kafka", stack.kafka.is_running()),
                ("gateway", stack.gateway.is_running()),
            )
            if not running
        ]
    if missing:
        raise StackError(
            f"the {profile.name} stack is not up ({', '.join(missing)} not running); "
            f"start it with `{up_command(profile)}`"
        )


def restart(stack: Stack, name: str, progress: Progress | None = None) -> None:
    """Stop one service of the running stack and start it again; returns once it is ready."""
    require_service(stack, name)
    require_running(stack)
    service = stack.service(name)
    say = progress or _silent
    if service.is_running():
        service.stop()
        say(f"{name:<10} stopped")
    try:
        service.start()
    except Exception as error:  # ServiceError or ProcessError: both carry the log lines
        raise StackError(f"start {name}: {error}") from error
    say(f"{name:<10} ready on {service.url}")


def dev_command(
    stack: Stack, name: str, watch: Sequence[Path] = (), python: str = sys.executable
) -> list[str]:
    """uvicorn with `--reload` on the service's stack port, watching its code, the libs and
    the folders in `watch`."""
    service = stack.service(name)
    watched = [
        REPO_ROOT / "services" / name / "src",
        REPO_ROOT / "libs" / "servicekit" / "src",
        REPO_ROOT / "libs" / "contracts" / "src",
        *watch,
    ]
    argv = [
        python,
        "-m",
        "uvicorn",
        "devstack.dev_app:build",
        "--factory",
        "--reload",
        *(arg for folder in watched if folder.is_dir() for arg in ("--reload-dir", str(folder))),
        "--host",
        service.host,
        "--port",
        str(service.port),
        "--no-server-header",
        "--no-access-log",
        "--proxy-headers",
        "--forwarded-allow-ips",
        "127.0.0.1",
    ]
    return argv


def dev_environment(stack: Stack, name: str) -> dict[str, str]:
    """The stack's environment for `name`, plus which service `devstack.dev_app` builds; logs
    as text (a terminal reads them, not a collector)."""
    return {**stack.service_env(name), SERVICE_VARIABLE: name, "LOG_FORMAT": "console"}


def dev(
    stack: Stack,
    name: str,
    progress: Progress | None = None,
    watch: Sequence[Path] = (),
) -> int:
    """Run `name` from source with reload in the foreground until Ctrl-C (or SIGTERM); returns
    0 for a clean stop, else the server's exit code."""
    require_service(stack, name)
    require_running(stack)
    say = progress or _silent
    service = stack.service(name)
    if service.is_running():
        service.stop()
        say(f"{name:<10} the stack's copy stopped; running it from source instead")
    if port_open(service.host, service.port):
        raise StackError(
            f"{name}: port {service.port} is in use by a process devstack does not know "
            f"(another `make dev SERVICE={name}`?)"
        )
    say(
        f"{name:<10} from source on {service.url} with --reload "
        f"(Ctrl-C stops it; then `{restart_command(stack.profile, name)}`)"
    )
    child = subprocess.Popen(
        dev_command(stack, name, watch),
        env=dev_environment(stack, name),
        cwd=Path(REPO_ROOT),
        stdin=subprocess.DEVNULL,
    )
    previous = signal.signal(signal.SIGTERM, lambda _sig, _frame: child.send_signal(signal.SIGINT))
    try:
        code = _wait(child)
    finally:
        signal.signal(signal.SIGTERM, previous)
    say(f"{name:<10} stopped (not running now: `{restart_command(stack.profile, name)}`)")
    return 0 if code in (0, -signal.SIGINT, -signal.SIGTERM) else code


def restart_command(profile: Profile, name: str) -> str:
    if profile.name == "local":
        return f"make restart SERVICE={name}"
    return f"python -m devstack restart {name} --profile {profile.name}"


def _wait(child: subprocess.Popen[bytes]) -> int:
    """Wait for the server; a Ctrl-C reaches it too (same process group), so wait again for it
    to finish its shutdown instead of leaving it behind."""
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
            continue


def _silent(_: str) -> None:
    pass
