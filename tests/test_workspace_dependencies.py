"""Each workspace package declares the workspace packages its code imports.

In the workspace's one virtualenv every package is installed, so an import of an undeclared one
works in every test; only an image, which installs one service and what it declares, shows it
missing, at its start in the cluster (servicekit imported `contracts` without declaring it, and
psp, which does not name `contracts` itself, could not start). This reads the imports instead.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    folder.name: folder
    for group in ("libs", "services")
    for folder in sorted((ROOT / group).iterdir())
    if (folder / "pyproject.toml").is_file()
}


def _declared(package: str) -> set[str]:
    project = tomllib.loads((PACKAGES[package] / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\s\[<>=!~;]", entry, maxsplit=1)[0] for entry in project["dependencies"]}
    return names & PACKAGES.keys()


def _reachable(package: str) -> set[str]:
    """The package and every workspace package its declared dependencies bring, transitively."""
    seen, todo = {package}, [package]
    while todo:
        for dependency in _declared(todo.pop()) - seen:
            seen.add(dependency)
            todo.append(dependency)
    return seen


def _imported(package: str) -> dict[str, str]:
    """Workspace packages imported by the package's source, each with one place it happens."""
    found: dict[str, str] = {}
    for path in sorted((PACKAGES[package] / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                else []
            )
            for module in modules:
                top = module.split(".")[0]
                if top in PACKAGES:
                    found.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


# devstack is the workspace's tooling and runs in its virtualenv; its one image, the load
# generator, imports a part of it that needs no other workspace package, and the image tests
# run that image.
SHIPPED = sorted(PACKAGES.keys() - {"devstack"})


@pytest.mark.parametrize("package", SHIPPED)
def test_a_package_imports_only_what_its_dependencies_bring(package: str) -> None:
    reachable = _reachable(package)
    undeclared = {
        name: where for name, where in _imported(package).items() if name not in reachable
    }

    assert not undeclared, (
        f"{package} imports workspace packages its pyproject.toml does not bring: "
        + ", ".join(f"{name} ({where})" for name, where in sorted(undeclared.items()))
    )
