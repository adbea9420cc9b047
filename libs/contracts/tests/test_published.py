"""The published version of a schema: committed at git HEAD, else the working-tree file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import pytest

from contracts.artifacts import event_schema, render_json
from contracts.base import Event
from contracts.checks import incompatible_changes
from contracts.published import published_schema

TYPE = "orders.order.placed.v1"


class PlacedV1(Event):
    """The published version."""

    EVENT_TYPE: ClassVar[str] = TYPE
    TOPIC: ClassVar[str] = "orders.order"
    SUBJECT_FIELD: ClassVar[str] = "order_id"

    order_id: str


def _git(cwd: Path, *args: str) -> None:
    git = shutil.which("git")
    assert git is not None
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CEILING_DIRECTORIES": str(cwd.parent),
    }
    subprocess.run(
        [git, "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )


def _write(path: Path, schema: dict[str, Any]) -> None:
    path.write_text(render_json(schema), encoding="utf-8")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_compatibility_is_judged_against_the_schema_committed_at_head(tmp_path: Path) -> None:
    path = tmp_path / f"{TYPE}.json"
    _write(path, event_schema(PlacedV1))
    _git(tmp_path, "init", "--quiet")
    _git(tmp_path, "add", path.name)
    _git(tmp_path, "commit", "--quiet", "--message", "publish v1")

    class Placed(PlacedV1):
        currency: str

    # Regenerating the working-tree file does not hide the breaking change.
    _write(path, event_schema(Placed))
    assert published_schema(path) == json.loads(render_json(event_schema(PlacedV1)))
    (problem,) = incompatible_changes({TYPE: Placed}, published=lambda _: published_schema(path))
    assert "`currency`: new property made required" in problem


def test_outside_git_the_working_tree_file_is_the_published_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    path = tmp_path / f"{TYPE}.json"
    assert published_schema(path) is None
    _write(path, event_schema(PlacedV1))
    assert published_schema(path) == json.loads(render_json(event_schema(PlacedV1)))
