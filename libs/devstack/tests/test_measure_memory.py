"""Resident memory read from /proc: a service is measured as its whole process tree, and a
sampler keeps each one's highest total. Most cases run on a /proc laid out in a folder, so the
numbers are known; one reads this very process."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from devstack.measure.memory import (
    ResidentPeaks,
    descendants,
    parent_of,
    parents_by_pid,
    resident_bytes,
    tree_resident_bytes,
    vm_rss_bytes,
)
from servicekit.testing.events import eventually

pytestmark = pytest.mark.unit


def _process(proc: Path, pid: int, parent: int, rss_kib: int | None, name: str = "python") -> None:
    folder = proc / str(pid)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stat").write_text(f"{pid} ({name}) S {parent} {pid} {pid} 0 -1 4194560\n")
    rss = f"VmRSS:\t{rss_kib:>8} kB\n" if rss_kib is not None else ""
    (folder / "status").write_text(f"Name:\t{name}\nVmPeak:\t  999999 kB\n{rss}Threads:\t1\n")


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A service (10) with a worker (11) that has a helper (12), a sibling (20) and a zombie
    (30) with no VmRSS line, all under init (1)."""
    root = tmp_path / "proc"
    _process(root, 1, 0, 1_000, "init")
    _process(root, 10, 1, 100_000, "python -m orders")
    _process(root, 11, 10, 20_000)
    _process(root, 12, 11, 3_000, "helper (x) y")
    _process(root, 20, 1, 50_000)
    _process(root, 30, 10, None)
    (root / "self").mkdir()  # not a process: ignored
    return root


def test_vm_rss_is_read_in_bytes() -> None:
    assert vm_rss_bytes("Name:\tpython\nVmRSS:\t  114688 kB\nVmHWM:\t 200000 kB\n") == 114688 * 1024


def test_a_process_without_resident_memory_counts_zero() -> None:
    assert vm_rss_bytes("Name:\tkthreadd\nState:\tS (sleeping)\n") == 0


def test_the_parent_is_read_after_a_command_name_with_spaces_and_parentheses() -> None:
    assert parent_of("4242 (a (b) c)) S 17 4242 4242 0 -1") == 17


def test_descendants_are_the_whole_subtree_and_nothing_else(proc: Path) -> None:
    parents = parents_by_pid(proc)
    assert parents[12] == 11
    assert descendants(10, parents) == [11, 12, 30]
    assert descendants(12, parents) == []


def test_a_tree_counts_the_process_and_everything_below_it(proc: Path) -> None:
    assert tree_resident_bytes(10, proc) == (100_000 + 20_000 + 3_000) * 1024
    assert tree_resident_bytes(20, proc) == 50_000 * 1024


def test_a_process_that_is_gone_counts_zero(proc: Path) -> None:
    assert resident_bytes(99, proc) == 0
    assert tree_resident_bytes(99, proc) == 0


def test_the_sampler_keeps_each_process_highest_total(proc: Path) -> None:
    peaks = ResidentPeaks({"orders": 10, "catalog": 20}, proc)
    peaks.sample()
    _process(proc, 11, 10, 80_000)  # the worker grows under load...
    peaks.sample()
    _process(proc, 11, 10, 10_000)  # ...and gives memory back afterwards
    _process(proc, 20, 1, 60_000)
    peaks.sample()
    assert peaks.samples == 3
    assert peaks.peaks == {
        "orders": (100_000 + 80_000 + 3_000) * 1024,
        "catalog": 60_000 * 1024,
    }


def test_sampling_runs_while_the_block_runs_and_once_at_its_end(proc: Path) -> None:
    peaks = ResidentPeaks({"orders": 10}, proc)

    async def load() -> None:
        async with peaks.sampling(interval_s=0.01):
            await eventually(lambda: peaks.samples >= 3)
            _process(proc, 10, 1, 500_000)  # grows after the last sample in the block

    asyncio.run(load())
    assert peaks.samples >= 4
    assert peaks.peaks["orders"] == (500_000 + 20_000 + 3_000) * 1024


def test_this_process_is_measured_from_the_real_proc() -> None:
    peaks = ResidentPeaks({"tests": os.getpid()})
    peaks.sample()
    assert 10 * 2**20 < peaks.peaks["tests"] < 8 * 2**30
