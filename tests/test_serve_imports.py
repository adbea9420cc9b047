"""Every service's `serve` path loads no alembic: migrations run in `bootstrap` (the migration
Job on Kubernetes), never in a serving process, whose start-up is mostly imports (issue 15;
docs/performance.md). servicekit's own test (libs/servicekit/tests/test_serve_imports.py)
builds an app; this one holds each service's code to the same: its entry point, its API and
its command line resolved, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from contracts.manifest import load_manifests

pytestmark = pytest.mark.unit

SERVICES = [manifest.name for manifest in load_manifests(Path(__file__).parents[1] / "services")]

_SERVE_PATH = """
import importlib, sys
service = importlib.import_module(sys.argv[1] + ".__main__").SERVICE
service.api, service.cli()
print(" ".join(name for name in ("alembic", "mako") if name in sys.modules))
"""


@pytest.mark.parametrize("service", SERVICES)
def test_serving_loads_no_migration_tool(service: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SERVE_PATH, service],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
