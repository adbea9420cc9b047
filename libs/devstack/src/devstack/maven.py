"""Artifacts from Maven Central, fetched once into the git-ignored cache.

Kafka's runtime classpath (`devstack.kafka`) and the Prometheus JMX exporter agent
(`devstack.kafka_metrics`) both come from Maven Central through `mvn`. A fetch lands in a
temporary sibling folder that is renamed into place only after Maven succeeded and a stamp
naming what was fetched (a fingerprint: a pom's hash, an artifact's coordinates) was written,
so a half-finished download is never taken for a complete one, and a changed fingerprint
fetches again. A lock file keeps concurrent callers (parallel test runs) from fetching twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from devstack.process import ProcessError

__all__ = ["DEPENDENCY_PLUGIN", "fetch_once", "run_maven"]

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
# Written last into a freshly fetched folder: holds the fingerprint it came from.
_STAMP = ".devstack-complete"


def fetch_once(target: Path, fingerprint: str, fetch: Callable[[Path], None]) -> Path:
    """Make `target` a folder that `fetch(folder)` filled for `fingerprint`; return `target`.

    A no-op when `target` already carries the fingerprint's stamp. `fetch` raises on failure,
    which leaves `target` as it was (absent, or the previous fetch).
    """
    if _stamp_matches(target, fingerprint):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / ".lock"):
        if _stamp_matches(target, fingerprint):
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f"{target.name}.tmp-", dir=target.parent))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it 0700
            fetch(tmp)
            (tmp / _STAMP).write_text(fingerprint + "\n")
            if target.exists():  # fetched for an older fingerprint: swap it out
                old = target.with_name(f"{target.name}.old-{os.getpid()}")
                shutil.rmtree(old, ignore_errors=True)
                target.rename(old)
                tmp.rename(target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def run_maven(args: Sequence[str], what: str, expect: Callable[[], bool]) -> None:
    """`mvn -q -B <args>`; raise ProcessError naming `what` unless it exits 0 and `expect()`."""
    argv = ["mvn", "-q", "-B", *args]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
    except FileNotFoundError:
        raise ProcessError(f"mvn not found: Maven is needed to fetch {what}") from None
    except subprocess.TimeoutExpired as exc:
        raise ProcessError(f"Maven timed out fetching {what}: {exc}") from None
    if result.returncode != 0 or not expect():
        output = (result.stdout + result.stderr).strip()
        raise ProcessError(
            f"Maven could not fetch {what} (exit {result.returncode}): {' '.join(argv)}\n"
            f"{output[-4000:]}"
        )


def _stamp_matches(target: Path, fingerprint: str) -> bool:
    try:
        return (target / _STAMP).read_text().strip() == fingerprint
    except (FileNotFoundError, NotADirectoryError):
        return False


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
