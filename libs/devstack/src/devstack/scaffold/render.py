"""The template's files, filled in with a new service's names, and written into the repository.

The template (this package's `template/` folder) mirrors the repository: each file's path is
where it lands, with `{{name}}`-style placeholders in paths and contents, and a `.tmpl` suffix
so that no tool takes it for code of ours. A placeholder the names do not define is an error
naming the file, never an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path, PurePosixPath

from devstack.scaffold.names import ServiceNames

__all__ = [
    "REGISTRY",
    "RenderedFile",
    "ScaffoldError",
    "register_event",
    "rendered_files",
    "write_files",
]

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_SUFFIX = ".tmpl"

REGISTRY = PurePosixPath("libs/contracts/src/contracts/registry.py")
"""Where every published event type is listed (`contracts.registry.EVENT_TYPES`)."""


class ScaffoldError(RuntimeError):
    """The service cannot be written as asked; the message says why."""


@dataclass(frozen=True)
class RenderedFile:
    path: PurePosixPath
    """Relative to the repository's root."""
    content: str


def rendered_files(names: ServiceNames) -> list[RenderedFile]:
    """Every template file with `names` filled in, in path order."""
    values = names.placeholders()
    files = [
        RenderedFile(
            path=PurePosixPath(_fill(str(relative), values, str(relative)).removesuffix(_SUFFIX)),
            content=_fill(source.read_text(encoding="utf-8"), values, str(relative)),
        )
        for relative, source in _template_files(resources.files(__package__) / "template")
    ]
    return sorted(files, key=lambda file: file.path)


def write_files(root: Path, files: Sequence[RenderedFile]) -> list[Path]:
    """Write them under `root`; refuse (writing nothing) when one of them exists already."""
    present = [str(file.path) for file in files if (root / file.path).exists()]
    if present:
        raise ScaffoldError(f"these exist already, nothing was written: {', '.join(present)}")
    written: list[Path] = []
    for file in files:
        target = root / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.content, encoding="utf-8")
        written.append(target)
    return written


def register_event(root: Path, names: ServiceNames) -> Path:
    """Add the service's event model to `contracts.registry` (its import and its entry in
    EVENT_TYPES); `ruff` puts both in order afterwards."""
    path = root / REGISTRY
    model = f"{names.aggregate_class}CreatedV1"
    source = path.read_text(encoding="utf-8")
    if f"from contracts.{names.name} import" in source:
        raise ScaffoldError(f"{REGISTRY} already imports contracts.{names.name}")
    anchor = "EVENT_TYPES: dict[str, type[Event]] = _by_type(\n    (\n"
    start = source.find(anchor)
    end = source.find("\n    )\n)", start)
    if start < 0 or end < 0:
        raise ScaffoldError(
            f"{REGISTRY}: cannot find `{anchor.splitlines()[0]}` and its closing `    )\\n)`; "
            f"add {model} to EVENT_TYPES by hand"
        )
    source = f"{source[: end + 1]}        {model},\n{source[end + 1 :]}"
    lines = source.splitlines(keepends=True)
    imports = [i for i, line in enumerate(lines) if line.startswith("from contracts.")]
    if not imports:
        raise ScaffoldError(f"{REGISTRY}: no `from contracts.… import` line to add one beside")
    after = imports[-1]
    if lines[after].rstrip().endswith("("):  # a parenthesised import: after its `)`
        after = next(i for i in range(after, len(lines)) if lines[i].startswith(")"))
    lines.insert(after + 1, f"from contracts.{names.name} import {model}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _template_files(
    folder: Traversable, parent: PurePosixPath = PurePosixPath()
) -> Iterator[tuple[PurePosixPath, Traversable]]:
    for entry in folder.iterdir():
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            yield from _template_files(entry, parent / entry.name)
        elif entry.name.endswith(_SUFFIX):
            yield parent / entry.name, entry


def _fill(text: str, values: Mapping[str, str], where: str) -> str:
    unknown = sorted({key for key in _PLACEHOLDER.findall(text) if key not in values})
    if unknown:
        raise ScaffoldError(f"template {where}: unknown placeholders {', '.join(unknown)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)
