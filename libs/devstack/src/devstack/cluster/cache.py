"""Build outputs cached outside the clone, shared by every checkout on the machine.

CI runs in a fresh clone, so a cache inside the work tree would be cold on every run. This
follows the layout the lead's `devstack.toolchain` uses (switch to it once it lands on main):
root `${FLOTILLA_CACHE:-${XDG_CACHE_HOME:-~/.cache}/flotilla}`, one folder per entry
`<root>/<kind>/<name>-<version>/`, built in a temporary sibling and renamed into place after a
`.complete` stamp holding the entry's fingerprint was written last. A missing or different
stamp means the entry is rebuilt, so an interrupted build never looks finished.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Progress", "cache_root", "cached_entry", "go_environment", "run_with_heartbeat"]

Progress = Callable[[str], None]

_STAMP = ".complete"


def cache_root() -> Path:
    explicit = os.environ.get("FLOTILLA_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "flotilla"


def go_environment() -> dict[str, str]:
    """Module and build caches shared with the other Go tools, so their builds reuse each
    other's work (the Kubernetes build alone fills ~5 GB of build cache)."""
    root = cache_root() / "go"
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(root / "mod"),
        GOCACHE=str(root / "build"),
        GOFLAGS="-modcacherw",
        GOTOOLCHAIN="local",
    )
    return env


def cached_entry(
    kind: str, name: str, version: str, fingerprint: str, build: Callable[[Path], None]
) -> Path:
    """The entry's folder, building it with `build(tmp_dir)` when absent or stale."""
    entry = cache_root() / kind / f"{name}-{version}"
    stamp = entry / _STAMP
    if stamp.is_file() and stamp.read_text().strip() == fingerprint:
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.parent / f".{entry.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        build(tmp)
        (tmp / _STAMP).write_text(fingerprint + "\n")
        shutil.rmtree(entry, ignore_errors=True)
        tmp.rename(entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return entry


def run_with_heartbeat(
    argv: Sequence[str],
    *,
    what: str,
    progress: Progress,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    every: float = 15.0,
) -> None:
    """Run a long command, saying every `every` seconds that it still runs; on failure raise
    with the end of its output."""
    started = time.monotonic()
    with _heartbeat(what, progress, every, started):
        result = subprocess.run(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise RuntimeError(f"{what} failed ({' '.join(argv[:3])} ...):\n{tail}")
    progress(f"  {what}: done in {time.monotonic() - started:.0f} s")


@contextmanager
def _heartbeat(what: str, progress: Progress, every: float, started: float) -> Iterator[None]:
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            progress(f"  ... {what}: still running ({time.monotonic() - started:.0f} s)")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
