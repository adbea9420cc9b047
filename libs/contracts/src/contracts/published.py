"""The published version of an event's JSON Schema: the one committed at git HEAD.

Compatibility is judged against HEAD, not the working tree, so regenerating a schema after a
breaking change does not hide it. Outside a git checkout (or before the first commit, or for a
file HEAD does not have yet) the working-tree file stands in.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["published_schema"]


def published_schema(path: Path) -> dict[str, Any] | None:
    """The schema at `path` as of HEAD, else as in the working tree; None when neither has it."""
    text = _at_head(path)
    if text is None and path.is_file():
        text = path.read_text(encoding="utf-8")
    if text is None:
        return None
    try:
        schema: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: the published schema is not valid JSON: {error}") from None
    return schema


def _at_head(path: Path) -> str | None:
    git = shutil.which("git")
    if git is None or not path.parent.is_dir():
        return None
    # `HEAD:./name` is relative to the working directory, so no repository root is needed.
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [git, "show", f"HEAD:./{path.name}"],
        cwd=path.parent,
        capture_output=True,
        check=False,
        timeout=30,
    )
    if result.returncode != 0:  # not a repository, no commit yet, or not in HEAD
        return None
    return result.stdout.decode("utf-8")
