"""The typed Python clients generated from the services' committed OpenAPI documents: one
subpackage per service, `libs/clients/src/clients/<service>/`, committed like the documents.

openapi-python-client (pinned in pyproject.toml's dev group) writes each from
`services/<service>/openapi.json`, with the settings in `libs/clients/openapi-python-client.yaml`
(class names, and the ruff post hooks that make the output the same wherever it is generated).
It always generates into a scratch folder: `write` then replaces the committed subpackage by
it, and `stale` compares the two file by file — a client is stale when its document changed
and `make contracts` was not run since, or when someone edited generated code by hand.
`python -m devstack.openapi generate | check` calls both, next to the documents themselves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devstack.profiles import REPO_ROOT

__all__ = ["client_path", "generate", "stale", "write"]

CLIENTS_PACKAGE = Path("libs", "clients", "src", "clients")
CONFIG = Path("libs", "clients", "openapi-python-client.yaml")
# Two at a time: each run is a Python start-up and two ruff runs, on a machine of few cores.
_PARALLEL = 2


def client_path(service: str, root: Path = REPO_ROOT) -> Path:
    return root / CLIENTS_PACKAGE / service


def generate(document: Path, into: Path, root: Path = REPO_ROOT) -> None:
    """Write the client of the OpenAPI `document` as the package folder `into` (which must not
    exist yet); RuntimeError with the generator's output when it fails or warns."""
    bin_dir = Path(sys.executable).parent  # the virtualenv's: the generator and its ruff
    generator = bin_dir / "openapi-python-client"
    if not generator.exists():
        raise RuntimeError(f"{generator} is missing: `make setup` installs the dev tools")
    result = subprocess.run(
        [
            str(generator), "generate", "--path", str(document),
            "--config", str(root / CONFIG), "--meta", "none",
            "--output-path", str(into), "--fail-on-warning",
        ],
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if result.returncode != 0 or not into.is_dir():
        raise RuntimeError(
            f"openapi-python-client failed on {document} ({result.returncode}):\n"
            f"{(result.stdout + result.stderr).strip()}"
        )


def _files(folder: Path) -> dict[str, bytes]:
    """The folder's files by relative path, without Python's and ruff's caches."""
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not {"__pycache__", ".ruff_cache"} & set(path.parts)
    }


def _differences(committed: dict[str, bytes], generated: dict[str, bytes]) -> list[str]:
    differences = []
    for name in sorted(committed.keys() | generated.keys()):
        if name not in committed:
            differences.append(f"{name} is missing")
        elif name not in generated:
            differences.append(f"{name} is not generated (edited in by hand?)")
        elif committed[name] != generated[name]:
            differences.append(f"{name} differs")
    return differences


def _each(services: Iterable[str], root: Path, scratch: Path) -> dict[str, Path]:
    """Every service's client, generated from its committed document under `scratch`."""
    wanted = {service: scratch / service for service in services}
    with ThreadPoolExecutor(_PARALLEL) as pool:
        runs = [
            pool.submit(generate, root / "services" / service / "openapi.json", into, root)
            for service, into in wanted.items()
        ]
        for run in runs:
            run.result()
    return wanted


def stale(services: Iterable[str], root: Path = REPO_ROOT) -> list[str]:
    """One problem per client that does not match what its committed document generates,
    naming the first few files that differ."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="flotilla-clients-") as scratch:
        for service, generated in _each(services, root, Path(scratch)).items():
            committed = client_path(service, root)
            where = committed.relative_to(root).as_posix()
            if not committed.is_dir():
                problems.append(f"{where} is missing")
                continue
            differences = _differences(_files(committed), _files(generated))
            if differences:
                shown = "; ".join(differences[:3])
                more = f" (and {len(differences) - 3} more)" if len(differences) > 3 else ""
                problems.append(f"{where} is stale: {shown}{more}")
    return problems


def write(services: Iterable[str], root: Path = REPO_ROOT) -> list[str]:
    """Replace each client that differs from what its document generates; the ones replaced."""
    updated = []
    with tempfile.TemporaryDirectory(prefix="flotilla-clients-") as scratch:
        for service, generated in _each(services, root, Path(scratch)).items():
            committed = client_path(service, root)
            if _files(committed) != _files(generated):
                shutil.rmtree(committed, ignore_errors=True)
                shutil.copytree(
                    generated,
                    committed,
                    ignore=shutil.ignore_patterns("__pycache__", ".ruff_cache"),
                )
                updated.append(committed.relative_to(root).as_posix())
    return updated
