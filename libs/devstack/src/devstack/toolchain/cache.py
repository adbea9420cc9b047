"""Fetched and built tools, cached outside the clone and keyed by version.

CI and a newcomer's second clone start from a fresh work tree, so a cache inside it would be cold
every time. The cache lives in `$FLOTILLA_CACHE`, else `$XDG_CACHE_HOME/flotilla`, else
`~/.cache/flotilla`, shared by every checkout of the machine:

    <root>/go/mod, <root>/go/build      Go's module and build caches (one for every Go tool)
    <root>/<kind>/<name>-<version>/     one entry: a built binary, a jar folder, CRD files

An entry is filled in a temporary sibling folder and renamed into place only after its stamp
(`.flotilla-entry.json`: the fingerprint it was made for and every file's size and SHA-256) was
written last, so an interrupted build never looks complete. Every use checks the stamp against the
files: a missing, truncated or altered file makes the entry corrupt and it is built again. A lock
file keeps concurrent callers (two checkouts, parallel tests) from building the same entry twice.

Standard library only: `make doctor` runs it before the virtualenv exists.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CacheEntry", "build_once", "cache_root", "entry_problem", "go_env"]

_STAMP = ".flotilla-entry.json"


def cache_root() -> Path:
    """Where fetched and built tools are kept (created on first use)."""
    explicit = os.environ.get("FLOTILLA_CACHE")
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "flotilla").resolve()


def go_env(bin_dir: Path | None = None) -> dict[str, str]:
    """The environment for `go` commands: the shared module and build caches (+ GOBIN)."""
    root = cache_root() / "go"
    env = {
        **os.environ,
        "GOMODCACHE": str(root / "mod"),
        "GOCACHE": str(root / "build"),
        # Module files read-only (Go's default) would make the cache undeletable without chmod.
        "GOFLAGS": "-modcacherw",
    }
    if bin_dir is not None:
        env["GOBIN"] = str(bin_dir)
    return env


@dataclass(frozen=True)
class CacheEntry:
    """One cached folder: `<root>/<kind>/<name>-<version>`."""

    kind: str
    name: str
    version: str

    @property
    def path(self) -> Path:
        return cache_root() / self.kind / f"{self.name}-{self.version}"

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


def entry_problem(folder: Path, fingerprint: str) -> str | None:
    """Why `folder` is not a complete entry for `fingerprint`, or None when it is."""
    stamp = folder / _STAMP
    try:
        recorded = json.loads(stamp.read_text())
    except FileNotFoundError:
        return "not built yet" if not folder.exists() else "incomplete (no stamp)"
    except (OSError, ValueError):
        return "corrupt stamp"
    if recorded.get("fingerprint") != fingerprint:
        return f"built for {recorded.get('fingerprint')!r}, not {fingerprint!r}"
    files: dict[str, list[object]] = recorded.get("files", {})
    for relative, (size, digest) in files.items():
        path = folder / relative
        try:
            if path.stat().st_size != size or _sha256(path) != digest:
                return f"corrupt: {relative} changed since it was built"
        except FileNotFoundError:
            return f"corrupt: {relative} is missing"
    return None


def build_once(target: Path, fingerprint: str, build: Callable[[Path], None]) -> Path:
    """Make `target` (an entry's folder) one that `build(folder)` filled for `fingerprint`.

    A no-op when the entry is complete. `build` raises on failure, which leaves the entry as it
    was (absent, or a previous build). Returns `target`.
    """
    if entry_problem(target, fingerprint) is None:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / f".{target.name}.lock"):
        if entry_problem(target, fingerprint) is None:
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it 0700; Kafka's jars are read by other users
            build(tmp)
            _write_stamp(tmp, fingerprint)
            if target.exists():  # outdated or corrupt: swap it out
                old = target.with_name(f".{target.name}.old-{os.getpid()}")
                shutil.rmtree(old, ignore_errors=True)
                target.rename(old)
                tmp.rename(target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_stamp(folder: Path, fingerprint: str) -> None:
    files = {
        str(path.relative_to(folder)): [path.stat().st_size, _sha256(path)]
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }
    (folder / _STAMP).write_text(json.dumps({"fingerprint": fingerprint, "files": files}))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
