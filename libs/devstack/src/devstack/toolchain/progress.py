"""Long first-run steps say what they do: a line when they start, a heartbeat while they run.

A cold build of Jaeger or a Maven resolve can take minutes with nothing on the terminal; a
newcomer cannot tell a slow step from a hung one. `run_step` prints what starts and roughly how
long it takes, then every `HEARTBEAT_S` seconds the time so far, the newest line of the command's
output and, when given a folder to watch, how much it has grown. The command's whole output goes
to a log file whose tail is shown when it fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["HEARTBEAT_S", "StepFailed", "announce", "run_step"]

HEARTBEAT_S = 10.0
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class StepFailed(RuntimeError):
    """A step's command exited non-zero or ran out of time; the message has its log's tail."""


def announce(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def run_step(
    argv: Sequence[str],
    *,
    what: str,
    estimate: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    watch: Path | None = None,
    timeout: float = 3600.0,
    heartbeat_s: float = HEARTBEAT_S,
) -> None:
    """Run `argv` to completion, printing a start line and heartbeats; raise StepFailed."""
    announce(f"{what} ({estimate})")
    started = time.monotonic()
    size_before = _size(watch)
    with tempfile.NamedTemporaryFile(
        "w+", prefix="flotilla-step-", suffix=".log", delete=False
    ) as log:
        log_path = Path(log.name)
        try:
            process = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
            )
        except FileNotFoundError:
            raise StepFailed(f"{what}: {argv[0]} is not installed") from None
        while True:
            try:
                returncode = process.wait(timeout=heartbeat_s)
                break
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - started
                if elapsed > timeout:
                    process.kill()
                    process.wait()
                    raise StepFailed(f"{what}: no result after {timeout:.0f}s") from None
                print(
                    f"    ... {what}: {elapsed:.0f}s{_growth(watch, size_before)}"
                    f"{_last_line(log_path)}",
                    file=sys.stderr,
                    flush=True,
                )
    output = log_path.read_text(errors="replace")
    log_path.unlink(missing_ok=True)
    elapsed = time.monotonic() - started
    if returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-25:])
        raise StepFailed(f"{what} failed (exit {returncode}): {' '.join(argv)}\n{tail}")
    announce(f"{what}: done in {elapsed:.0f}s")


def _last_line(log: Path) -> str:
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, os.path.getsize(log) - 400))
            text = _ANSI.sub("", handle.read().decode(errors="replace"))
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f" | {lines[-1][:120]}" if lines else ""


def _size(folder: Path | None) -> int:
    if folder is None or not folder.exists():
        return 0
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


def _growth(folder: Path | None, before: int) -> str:
    if folder is None:
        return ""
    grown = max(0, _size(folder) - before)
    return f", {grown / 1e6:.0f} MB fetched/built"
