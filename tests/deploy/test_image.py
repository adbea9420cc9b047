"""The one Dockerfile: multi-stage from the lock file, non-root, nothing to build with at run
time, no HEALTHCHECK (Kubernetes probes). No Docker engine here: read as the builder would."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from devstack.profiles import REPO_ROOT
from devstack.toolchain.catalog import CACHED_TOOLS

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
SERVICES = sorted(
    p.name for p in (REPO_ROOT / "services").iterdir() if (p / "pyproject.toml").exists()
)


def _uv() -> Path:
    found = CACHED_TOOLS["uv"].locate()
    assert found is not None, "uv is not in the tool cache: run `make setup`"
    return found


def _stages() -> list[str]:
    return re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[1:]


def test_final_stage_is_non_root_without_build_tools_or_healthcheck() -> None:
    stages = _stages()
    assert len(stages) >= 2
    final = stages[-1]
    assert re.search(r"^USER 10001", final, re.MULTILINE)
    assert not re.search(r"^HEALTHCHECK", DOCKERFILE, re.MULTILINE)
    assert not re.search(r"uv |apt-get|pip install|gcc|build-essential", final)
    assert "COPY --from=build" in final
    assert "/app/.venv" in final


def test_build_stage_installs_only_from_the_lock_file() -> None:
    syncs = re.findall(r"uv sync[^\n]*", DOCKERFILE)
    assert syncs
    for sync in syncs:
        assert "--frozen" in sync
        assert "--no-dev" in sync
        assert '--package "${SERVICE}"' in sync


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".cache", ".run", "**/tests"} <= set(ignored)


@pytest.mark.parametrize("service", SERVICES)
def test_lock_file_resolves_each_service_image(service: str) -> None:
    """What `uv sync --frozen --no-dev --package <service>` installs, without installing it."""
    result = subprocess.run(
        [str(_uv()), "export", "--frozen", "--no-dev",
         "--package", service, "--no-hashes"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "pytest" not in result.stdout
    assert "servicekit" in result.stdout
