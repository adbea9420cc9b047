"""`make bench`'s scripts that reach into servicekit run to their end, at their smallest sizes,
on the test stack.

`make bench` chains its scripts, so one that breaks stops every measurement after it: the outbox
table's script used the relay's own delete statement with a parameter the relay had renamed,
and for a day of changes no `make bench` got past it. These runs say nothing about speed (their
figures are printed, never judged); they hold the scripts to the code they measure. The HTTP,
services and saga benches restart servers or need the bench dependency group: `make bench`
alone runs them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devstack.profiles import Profile
from devstack.stack import Stack

BENCH = Path(__file__).parents[2] / "bench"

SMALLEST = {
    "events.py": (["--count=300", "--rate=50", "--seconds=1"], "sustained events/s"),
    "outbox_table.py": (
        ["--rate=20", "--seconds=2", "--every=1", "--kept=2000", "--since-vacuum=200"],
        "Ratio: kept's median read",
    ),
    "statements.py": (["--count=20", "--rounds=1"], "a consumer's transaction"),
}


@pytest.mark.parametrize("script", sorted(SMALLEST))
def test_the_script_runs_to_its_end(script: str, test_stack: Stack, stack_profile: Profile) -> None:
    arguments, expected = SMALLEST[script]
    finished = subprocess.run(
        [sys.executable, str(BENCH / script), *arguments, "--profile", stack_profile.name],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert expected in finished.stdout
