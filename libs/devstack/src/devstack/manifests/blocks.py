"""Managed blocks: the lines of a hand-written file that are generated from the manifests.

A block sits between two marker comments, which keep the indentation of the lines around them:

    dependencies = [
        "servicekit",
        # >>> generated services: from services/*/src/*/service.toml by make deploy-generate, ...
        "identity",
        # <<< generated services
    ]

Everything outside the markers stays as written. A name may mark several blocks of one file
(pyproject.toml lists the service packages seven times); each gets the same lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["BlockError", "begin_marker", "end_marker", "replace_blocks", "sections"]

_SOURCE = "from services/*/src/*/service.toml by make deploy-generate, do not edit"
_BEGIN = re.compile(r"^(?P<indent>[ \t]*)(?P<comment>#|//) >>> generated (?P<name>[a-z0-9_ -]+):")
_END = re.compile(r"^[ \t]*(?:#|//) <<< generated (?P<name>[a-z0-9_ -]+)$")


class BlockError(ValueError):
    """A marker is missing, unterminated or misplaced; the message names the file and block."""


def begin_marker(name: str, indent: str = "", comment: str = "#") -> str:
    return f"{indent}{comment} >>> generated {name}: {_SOURCE}\n"


def end_marker(name: str, indent: str = "", comment: str = "#") -> str:
    return f"{indent}{comment} <<< generated {name}\n"


@dataclass(frozen=True)
class _Block:
    name: str
    begin: int
    """Index of the begin marker's line; the body runs to the end marker's line, `end`."""
    end: int


def sections(text: str, where: str) -> list[tuple[str, str]]:
    """The blocks of `text` as (name, current body), in file order."""
    lines = text.splitlines(keepends=True)
    return [(b.name, "".join(lines[b.begin + 1 : b.end])) for b in _blocks(lines, where)]


def replace_blocks(
    text: str,
    bodies: Mapping[str, str],
    where: str,
    *,
    missing: Callable[[str, str], str] | None = None,
) -> str:
    """`text` with each block's body replaced by `bodies[name]`.

    A name of `bodies` with no block in the file is an error, unless `missing` is given: then
    `missing(name, body)` is appended (a new service's section). A block whose name is not in
    `bodies` is removed with its markers when `missing` is given (a removed service's), else it
    is an error.
    """
    lines = text.splitlines(keepends=True)
    blocks = _blocks(lines, where)
    found = {block.name for block in blocks}
    unknown = sorted(found - set(bodies))
    if unknown and missing is None:
        raise BlockError(f"{where}: unknown generated block(s) {', '.join(unknown)}")
    out: list[str] = []
    position = 0
    for block in blocks:
        out.extend(lines[position : block.begin])
        if block.name in bodies:
            out.extend(lines[block.begin : block.begin + 1])
            out.append(bodies[block.name])
            out.extend(lines[block.end : block.end + 1])
        position = block.end + 1
    out.extend(lines[position:])
    result = "".join(out)
    absent = [name for name in bodies if name not in found]
    if absent and missing is None:
        raise BlockError(
            f"{where}: no generated block {', '.join(absent)} (put its marker lines back: "
            f"`# >>> generated <name>: ...` and `# <<< generated <name>`)"
        )
    for name in absent:
        result += missing(name, bodies[name]) if missing else ""
    return result


def _blocks(lines: list[str], where: str) -> list[_Block]:
    blocks: list[_Block] = []
    open_at: int | None = None
    open_name = ""
    for index, line in enumerate(lines):
        begin, end = _BEGIN.match(line), _END.match(line.rstrip("\n"))
        if begin:
            if open_at is not None:
                raise BlockError(
                    f"{where}:{index + 1}: block {begin['name']} starts inside block {open_name}"
                )
            open_at, open_name = index, begin["name"]
        elif end:
            if open_at is None or end["name"] != open_name:
                marker = f"<<< generated {end['name']}"
                raise BlockError(f"{where}:{index + 1}: `{marker}` ends no block")
            blocks.append(_Block(open_name, open_at, index))
            open_at = None
    if open_at is not None:
        raise BlockError(f"{where}:{open_at + 1}: block {open_name} has no `<<< generated` line")
    return blocks
