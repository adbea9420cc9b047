"""The local loop for one service (`make restart`, `make up WITHOUT=`, `make dev`) against the
running stack of FLOTILLA_PROFILE. Each test leaves the stack as it found it: every service up."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.__main__ import main
from devstack.devloop import require_running, restart
from devstack.process import free_port, port_open
from devstack.profiles import Profile
from devstack.stack import Stack, StackError
from servicekit.testing import eventually

SERVICE = "orders"


def _through_gateway(stack: Stack) -> httpx.Response:
    return httpx.get(f"{stack.gateway.url}/{SERVICE}/openapi.json", timeout=5.0, trust_env=False)


@pytest.fixture
def stack(test_stack: Stack) -> Iterator[Stack]:
    yield test_stack
    # Whatever a test did to the service, the stack's copy runs again afterwards.
    fresh = Stack(test_stack.profile, observability=test_stack.observability)
    if not fresh.service(SERVICE).is_running():
        restart(fresh, SERVICE)


def test_restart_starts_a_new_process_that_serves_through_the_gateway(stack: Stack) -> None:
    before = stack.service(SERVICE).pid()
    assert before is not None

    assert main(["restart", SERVICE, "--profile", stack.profile.name]) == 0

    after = Stack(stack.profile).service(SERVICE).pid()
    assert after is not None
    assert after != before
    assert stack.service(SERVICE).is_ready()
    assert _through_gateway(stack).status_code == 200


def test_an_unknown_service_is_refused_with_the_known_ones_named(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("restart", "dev"):
        assert main([command, "ordrs", "--profile", stack.profile.name]) == 1
        error = capsys.readouterr().err
        assert "unknown service 'ordrs'" in error
        assert "orders" in error
    assert main(["up", "--without", "ordrs", "--profile", stack.profile.name]) == 1
    assert "unknown service ordrs" in capsys.readouterr().err


@dataclass(frozen=True)
class _Elsewhere(Profile):
    base: Path = Path("/nonexistent")

    @property
    def root(self) -> Path:
        return self.base / self.name


def test_a_stack_that_is_not_up_is_named_with_how_to_start_it(tmp_path: Path) -> None:
    ports = {
        name: free_port()
        for name in (
            "postgres_port",
            "kafka_port",
            "kafka_controller_port",
            "gateway_port",
            "first_service_port",
            "smtp_port",
        )
    }
    nowhere = _Elsewhere(name="dev-nowhere", base=tmp_path, **ports)
    with pytest.raises(StackError, match=r"the dev-nowhere stack is not up \(postgres, kafka"):
        require_running(Stack(nowhere))
    assert not (tmp_path / "dev-nowhere").exists(), "looking must not create the stack"


def test_up_without_a_service_leaves_its_routes_to_a_502_problem(stack: Stack) -> None:
    without = Stack(stack.profile, observability=stack.observability)
    without.up(without=frozenset({SERVICE}))

    assert not without.service(SERVICE).is_running()
    response = _through_gateway(stack)
    assert response.status_code in (502, 503)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == response.status_code
    # the rest of the platform is served
    assert httpx.get(f"{stack.gateway.url}/catalog/openapi.json", trust_env=False).is_success


def _descendants(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    found: list[int] = []
    for child in map(int, children):
        found += [child, *_descendants(child)]
    return found


def _listener_pid(port: int) -> int | None:
    """The pid of the process that holds a listening TCP socket on `port`."""
    wanted = f":{port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(wanted) and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(fields[9])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except (PermissionError, FileNotFoundError, ProcessLookupError):
            continue
        if any(link in {f"socket:[{inode}]" for inode in inodes} for link in links):
            return int(entry.name)
    return None


async def test_dev_serves_through_the_gateway_reloads_on_a_change_and_stops_on_ctrl_c(
    stack: Stack, tmp_path: Path
) -> None:
    service = stack.service(SERVICE)
    watched = tmp_path / "watched"
    watched.mkdir()
    edited = watched / "edited.py"
    edited.write_text("CHANGED = False\n")
    dev = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devstack",
        "dev",
        SERVICE,
        "--profile",
        stack.profile.name,
        "--watch",
        str(watched),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C below reaches its whole process group, as a terminal's
    )

    def served_from_source() -> bool:
        return _listener_pid(service.port) in _descendants(dev.pid)

    try:
        await eventually(
            lambda: dev.returncode is not None or served_from_source(),
            timeout_s=90,
            what=f"{SERVICE} from source to listen on its port",
        )
        assert dev.returncode is None, "devstack dev exited early"
        assert not service.is_running(), "the stack's own copy must be stopped"
        await eventually(lambda: _through_gateway(stack).status_code == 200, what="the gateway")
        # The reloader holds the listening socket and hands it to each worker it spawns.
        before = set(_descendants(dev.pid))

        edited.write_text("CHANGED = True\n")
        modified = edited.stat().st_mtime + 2  # a later mtime also for a coarse-grained clock
        os.utime(edited, (modified, modified))

        def reloaded() -> bool:
            return bool(set(_descendants(dev.pid)) - before) and service.is_ready()

        await eventually(reloaded, timeout_s=90, what="a new worker after the change")
        assert served_from_source()
        assert _through_gateway(stack).status_code == 200

        tree = [dev.pid, *_descendants(dev.pid)]
        os.killpg(dev.pid, signal.SIGINT)
        output, _ = await asyncio.wait_for(dev.communicate(), timeout=60)
    finally:
        if dev.returncode is None:
            os.killpg(dev.pid, signal.SIGKILL)
            await dev.wait()
    text = output.decode()
    assert dev.returncode == 0, text
    assert "Reloading" in text or "Detected change" in text or "detected changes" in text, text
    assert f"{SERVICE:<10} stopped" in text
    assert not port_open(service.host, service.port)
    left = [pid for pid in tree if _alive(pid)]
    assert not left, f"left running: {left}"


def _alive(pid: int) -> bool:
    """Running, not exited: an exited orphan stays a zombie until PID 1 reaps it, which a
    container's init may never do."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
