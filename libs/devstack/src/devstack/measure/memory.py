"""Resident memory (RSS) of a running process and everything it started, read from /proc.

A service is measured as its whole process tree: a server that forks workers (or a helper
process) costs the machine all of them. `ResidentPeaks` samples several processes while a load
runs and keeps each one's highest total, which is what a container's memory limit must hold.
Linux only (the /proc layout of proc(5)).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

__all__ = [
    "ResidentPeaks",
    "descendants",
    "parent_of",
    "parents_by_pid",
    "resident_bytes",
    "tree_resident_bytes",
    "vm_rss_bytes",
]

PROC = Path("/proc")


def vm_rss_bytes(status: str) -> int:
    """The `VmRSS` line of a /proc/<pid>/status text, in bytes (0 when there is none: a zombie
    or a kernel thread holds no memory of its own)."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise ValueError(f"unexpected unit in {line!r}")
            return int(value) * 1024
    return 0


def parent_of(stat: str) -> int:
    """The parent pid in a /proc/<pid>/stat line. The command name in parentheses may itself
    hold spaces and parentheses, so the fields are read after its last `)`."""
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(pid: int, parents: Mapping[int, int]) -> list[int]:
    """Every process below `pid` (children, their children, ...), given each pid's parent."""
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    found: list[int] = []
    pending = list(children.get(pid, ()))
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children.get(current, ()))
    return sorted(found)


def resident_bytes(pid: int, proc: Path = PROC) -> int:
    """One process's RSS; 0 when it is gone."""
    try:
        return vm_rss_bytes((proc / str(pid) / "status").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return 0


def tree_resident_bytes(
    pid: int, proc: Path = PROC, parents: Mapping[int, int] | None = None
) -> int:
    """The RSS of `pid` and all its descendants (`parents`: a `parents_by_pid()` already read,
    to measure several trees from one look at /proc)."""
    parents = parents_by_pid(proc) if parents is None else parents
    return sum(resident_bytes(each, proc) for each in [pid, *descendants(pid, parents)])


def parents_by_pid(proc: Path = PROC) -> dict[int, int]:
    """Each running process's parent."""
    parents: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parents[int(entry.name)] = parent_of((entry / "stat").read_text())
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue  # gone while we looked
    return parents


class ResidentPeaks:
    """The highest RSS (process tree) of each named process seen over several samples."""

    def __init__(self, pids: Mapping[str, int], proc: Path = PROC) -> None:
        self.pids = dict(pids)
        self.peaks: dict[str, int] = dict.fromkeys(self.pids, 0)
        self.samples = 0
        self._proc = proc

    def sample(self) -> None:
        self.samples += 1
        parents = parents_by_pid(self._proc)
        for name, pid in self.pids.items():
            current = tree_resident_bytes(pid, self._proc, parents)
            self.peaks[name] = max(self.peaks[name], current)

    @contextlib.asynccontextmanager
    async def sampling(self, interval_s: float = 0.25) -> AsyncIterator[ResidentPeaks]:
        """Sample every `interval_s` on the running event loop for as long as the block runs
        (one look at /proc costs a few milliseconds), once more at its end."""

        async def loop() -> None:
            while True:
                self.sample()
                await asyncio.sleep(interval_s)

        task = asyncio.create_task(loop())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.sample()
