"""Build inputs cached outside the clone, shared by every clone and worktree on the machine.

The layout is the one `devstack.toolchain` (the lead's, on main) uses, so the two can merge into
one: the root is `$FLOTILLA_CACHE`, else `$XDG_CACHE_HOME/flotilla`, else `~/.cache/flotilla`;
an entry is a folder `<root>/<kind>/<name>-<version or fingerprint>/`, filled in a temporary
sibling and renamed into place only after a `.complete` stamp holding the fingerprint was
written last. A missing or different stamp means "build again"; a half-filled folder (a
crash, Ctrl-C) is never taken for a complete one. A lock file keeps two concurrent builds
(two worktrees) from filling the same entry twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["STAMP", "cache_root", "cached_entry", "entry_is_complete"]

STAMP = ".complete"


def cache_root() -> Path:
    """`$FLOTILLA_CACHE`, else `$XDG_CACHE_HOME/flotilla`, else `~/.cache/flotilla`."""
    explicit = os.environ.get("FLOTILLA_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "flotilla"


def entry_is_complete(folder: Path, fingerprint: str) -> bool:
    try:
        return (folder / STAMP).read_text().strip() == fingerprint
    except (FileNotFoundError, NotADirectoryError):
        return False


def cached_entry(kind: str, name: str, fingerprint: str, fill: Callable[[Path], None]) -> Path:
    """`<root>/<kind>/<name>/`, filled once by `fill(folder)` for `fingerprint`; return it.

    `name` already carries the version or fingerprint (`uv-0.13.9`, `debian-bookworm-1a2b…`);
    `fingerprint` is what the stamp must say. `fill` raises on failure, which leaves the entry
    as it was.
    """
    target = cache_root() / kind / name
    if entry_is_complete(target, fingerprint):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / f".{name}.lock"):
        if entry_is_complete(target, fingerprint):
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f"{name}.tmp-", dir=target.parent))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it 0700
            fill(tmp)
            (tmp / STAMP).write_text(fingerprint + "\n")
            if target.exists():  # an older, incomplete or differently stamped fill
                old = target.with_name(f"{name}.old-{os.getpid()}")
                target.rename(old)
                shutil.rmtree(old, ignore_errors=True)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
