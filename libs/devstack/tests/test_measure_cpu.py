"""CPU time read from /proc: a component is its whole process tree, its reaped children
included. The cases run on a /proc laid out in a folder, so the numbers are known; one reads
this very process."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from devstack.measure.cpu import TICKS_PER_S, cpu_seconds, cpu_ticks, tree_cpu_ticks

pytestmark = pytest.mark.unit


def _stat(pid: int, parent: int, ticks: tuple[int, int, int, int], name: str = "python") -> str:
    utime, stime, cutime, cstime = ticks
    return (
        f"{pid} ({name}) S {parent} {pid} {pid} 0 -1 4194560 100 0 0 0 "
        f"{utime} {stime} {cutime} {cstime} 20 0 1 0 100 1000000 250\n"
    )


def _process(proc: Path, pid: int, parent: int, ticks: tuple[int, int, int, int]) -> None:
    folder = proc / str(pid)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stat").write_text(_stat(pid, parent, ticks))


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A postmaster (10) that has reaped backends (its cutime, cstime), two live backends (11,
    12), and a service (20) beside it, all under init (1)."""
    root = tmp_path / "proc"
    _process(root, 1, 0, (5, 5, 0, 0))
    _process(root, 10, 1, (100, 20, 300, 40))
    _process(root, 11, 10, (7, 3, 0, 0))
    _process(root, 12, 10, (1, 1, 0, 0))
    _process(root, 20, 1, (50, 10, 0, 0))
    return root


def test_a_process_counts_its_own_time_and_its_reaped_childrens() -> None:
    assert cpu_ticks(_stat(10, 1, (100, 20, 300, 40))) == 460


def test_a_command_name_with_spaces_and_parentheses_is_read_past() -> None:
    assert cpu_ticks(_stat(10, 1, (1, 2, 3, 4), name="postgres: a) (b")) == 10


def test_a_tree_is_its_root_and_every_descendant(proc: Path) -> None:
    assert tree_cpu_ticks(10, proc) == 460 + 10 + 2
    assert tree_cpu_ticks(20, proc) == 60


def test_a_process_gone_between_the_listing_and_the_reading_counts_nothing(proc: Path) -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 10, 20: 1}  # 13 ended after /proc was listed
    assert tree_cpu_ticks(10, proc, parents) == 472


def test_named_trees_are_read_in_seconds(proc: Path) -> None:
    assert cpu_seconds({"postgres": 10, "orders": 20}, proc) == {
        "postgres": 472 / TICKS_PER_S,
        "orders": 60 / TICKS_PER_S,
    }


def test_this_process_is_read_from_the_real_proc() -> None:
    before = cpu_seconds({"me": os.getpid()})["me"]
    started = time.process_time()
    while time.process_time() - started < 0.2:
        pass  # burn 0.2 s of CPU
    used = cpu_seconds({"me": os.getpid()})["me"] - before
    assert used >= 0.2 - 2 / TICKS_PER_S
