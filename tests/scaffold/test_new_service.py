"""`make new-service NAME=reviews` in a copy of this repository gives a service that works.

The copy has this checkout's files (tracked and new, as `git ls-files` lists them), not its
`.venv`: the copy's `make` creates its own from uv.lock, fast from the shared uv and tool caches.
Then, in the copy, everything a change to a service must pass that needs no running stack:
the new service's unit tests; the freshness checks of what derives from the manifests (routes,
topics, lists, chart), the event contracts and the OpenAPI documents and clients; ruff, mypy and
import-linter over the whole workspace; and `make deploy-check`. Its stack tests run in
`make test` once it is committed (they need the stack to serve it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from devstack.profiles import REPO_ROOT

# What the copy's commands must not inherit from this run: they use the copy's own virtualenv,
# and a `make` inside `make test` would otherwise take the outer make's flags.
_NOT_INHERITED = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}


def _copy_checkout(destination: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for relative in filter(None, listed.decode().split("\0")):
        source, target = REPO_ROOT / relative, destination / relative
        if not source.is_symlink() and not source.exists():
            continue  # deleted in the work tree, not yet in the index
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))  # the umbrella chart's link to its subchart
        else:
            shutil.copy2(source, target)


def _run(argv: Sequence[str], copy: Path, timeout_s: float = 900) -> str:
    env = {key: value for key, value in os.environ.items() if key not in _NOT_INHERITED}
    result = subprocess.run(
        list(argv),
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"`{' '.join(argv)}` exited {result.returncode}:\n{output}"
    return output


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The copy, with `make new-service NAME=reviews` run in it."""
    root = tmp_path_factory.mktemp("flotilla")
    _copy_checkout(root)
    assert not (root / "services" / "reviews").exists(), "the checkout already has a reviews"
    output = _run(["make", "new-service", "NAME=reviews"], root, timeout_s=1500)
    assert "make test-unit PYTEST_ARGS=services/reviews" in output  # it says what to run next
    return root


def _python(copy: Path, *args: str) -> list[str]:
    return [str(copy / ".venv" / "bin" / "python"), *args]


def test_the_new_service_passes_its_unit_tests(copy: Path) -> None:
    output = _run(
        _python(copy, "-m", "pytest", "-m", "unit", "-p", "no:cacheprovider", "services/reviews"),
        copy,
    )
    assert " passed" in output


def test_what_derives_from_the_services_is_fresh(copy: Path) -> None:
    helm = _run(_python(copy, "-m", "devstack.toolchain", "path", "helm"), copy).strip()
    for check in (
        ("devstack.manifests", "check"),
        ("contracts", "check"),
        ("devstack.openapi", "check"),
        ("devstack.charts", "check", "--helm", helm),
    ):
        _run(_python(copy, "-m", *check), copy)


def test_the_workspace_is_still_clean_and_typed(copy: Path) -> None:
    tools = copy / ".venv" / "bin"
    _run([str(tools / "ruff"), "check", "."], copy)
    _run([str(tools / "ruff"), "format", "--check", "."], copy)
    assert '"services/reviews/src"' in (copy / "pyproject.toml").read_text()  # mypy's files
    _run([str(tools / "mypy")], copy)
    _run([str(tools / "lint-imports")], copy)


def test_the_deploy_checks_pass_with_the_new_service(copy: Path) -> None:
    _run(["make", "deploy-check"], copy, timeout_s=1500)
