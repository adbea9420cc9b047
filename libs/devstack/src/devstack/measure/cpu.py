"""CPU time read from /proc: a component is measured as its whole process tree, as `memory.py`
measures its resident memory, so a Postgres cluster counts its backends and a service its
workers. A process's own time and the time of the children it has reaped are both counted:
a backend that served a connection and ended is in its postmaster's total from then on, and a
difference of two readings is what the tree used in between."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from devstack.measure.memory import PROC, descendants, parents_by_pid

__all__ = ["TICKS_PER_S", "cpu_seconds", "cpu_ticks", "tree_cpu_ticks"]

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
"""The unit of /proc's CPU times (100 on Linux)."""


def cpu_ticks(stat: str) -> int:
    """`utime + stime + cutime + cstime` of a /proc/<pid>/stat line: the process's own user and
    system time and its reaped children's. The fields are read after the command name's last
    `)`, which may itself hold spaces and parentheses."""
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15])


def tree_cpu_ticks(pid: int, proc: Path = PROC, parents: Mapping[int, int] | None = None) -> int:
    """The CPU ticks of `pid` and all its descendants; a process that is gone counts 0."""
    parents = parents_by_pid(proc) if parents is None else parents
    total = 0
    for each in [pid, *descendants(pid, parents)]:
        try:
            total += cpu_ticks((proc / str(each) / "stat").read_text())
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue  # gone while we looked: its time is in its parent's from now on
    return total


def cpu_seconds(pids: Mapping[str, int], proc: Path = PROC) -> dict[str, float]:
    """Each named process tree's CPU seconds so far, from one look at /proc."""
    parents = parents_by_pid(proc)
    return {name: tree_cpu_ticks(pid, proc, parents) / TICKS_PER_S for name, pid in pids.items()}
