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


def _stages() -> dict[str, str]:
    """Each stage's text by its name (`FROM … AS <name>`)."""
    stages = re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[1:]
    return {stage.split("\n", 1)[0].split(" AS ")[-1].strip(): stage for stage in stages}


def test_final_stages_are_non_root_without_build_tools_or_healthcheck() -> None:
    stages = _stages()
    assert list(stages)[-1] == "service"  # the default target: `docker build` gives a service
    runtime = stages["runtime"]
    assert "COPY --from=build" in runtime
    assert "/app/.venv" in runtime
    assert not re.search(r"^HEALTHCHECK", DOCKERFILE, re.MULTILINE)
    for name in ("runtime", "load-generator", "service"):
        stage = stages[name]
        assert re.search(r"^USER 10001", stage, re.MULTILINE), name
        assert not re.search(r"uv |apt-get|pip install|gcc|build-essential", stage), name
    assert stages["load-generator"].startswith("runtime AS")
    assert stages["service"].startswith("runtime AS")
    assert '"devstack.load"' in stages["load-generator"]


def test_service_images_carry_the_docs_pages_files() -> None:
    # servicekit.api_docs serves /docs-assets/ from DOCS_ASSETS_DIR; never a CDN at run time.
    service = _stages()["service"]
    assert "COPY --from=docs-assets" in service
    assert "/app/docs-assets" in service
    assert "DOCS_ASSETS_DIR=/app/docs-assets" in service
    # Docker's default fetches the files with devstack's own toolchain code (its pins).
    fetch = _stages()["docs-assets-fetch"]
    assert "devstack.toolchain ensure docs-assets" in fetch


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
