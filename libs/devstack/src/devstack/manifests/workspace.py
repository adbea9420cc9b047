"""The workspace's per-service lists in pyproject.toml: uv's members and sources, mypy's files,
paths and overrides, import-linter's packages and contracts, ruff's first-party packages."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.manifest import ServiceManifest
from devstack.manifests.blocks import replace_blocks

__all__ = ["pyproject"]


def pyproject(manifests: Sequence[ServiceManifest], text: str, where: str) -> str:
    names = [m.name for m in manifests]
    return replace_blocks(
        text,
        {
            # The root dependencies, import-linter's packages and its contracts' module lists,
            # ruff's first-party packages.
            "services": "".join(f'    "{name}",\n' for name in names),
            "service sources": "".join(f"{name} = {{ workspace = true }}\n" for name in names),
            # mypy's files (what `make lint` checks) and its import path.
            "service source paths": "".join(f'    "services/{name}/src",\n' for name in names),
            "service modules": "".join(f'    "{name}.*",\n' for name in names),
        },
        where,
    )
