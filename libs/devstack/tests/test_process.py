"""Waiting for a started process to become ready: it is, it died, or it took too long — and
the last two say so with the end of its log."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.process import ManagedProcess, is_frozen


@pytest.fixture
def process(tmp_path: Path) -> Iterator[ManagedProcess]:
    managed = ManagedProcess("probe", tmp_path / "probe.pid", tmp_path / "probe.log")
    yield managed
    managed.stop(timeout=5)


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_ready_process_is_waited_for_without_complaint(
    process: ManagedProcess, tmp_path: Path
) -> None:
    marker = tmp_path / "ready"
    process.start(
        _python(f"import pathlib, time; pathlib.Path({str(marker)!r}).touch(); time.sleep(30)")
    )
    assert process.wait_until(marker.exists, timeout=20) is None


def test_a_process_that_dies_at_start_is_reported_with_its_log(process: ManagedProcess) -> None:
    process.start(_python("import sys; print('cannot bind 127.0.0.1:1'); sys.exit(3)"))
    failure = process.wait_until(lambda: False, timeout=20)
    assert failure is not None
    assert failure.startswith("probe exited:")
    assert "cannot bind 127.0.0.1:1" in failure


def test_a_process_never_ready_is_reported_after_the_timeout(process: ManagedProcess) -> None:
    process.start(_python("print('still warming up', flush=True); import time; time.sleep(30)"))
    failure = process.wait_until(lambda: False, timeout=0.5)
    assert failure is not None
    assert failure.startswith("probe was not ready within 0.5 s")


def test_a_frozen_process_is_stopped_until_thawed(process: ManagedProcess) -> None:
    process.start(_python("import time; time.sleep(30)"))
    pid = process.pid()
    assert pid is not None
    process.freeze()
    assert is_frozen(pid)
    process.thaw()
    assert not is_frozen(pid)
    assert process.is_running()
