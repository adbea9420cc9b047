"""Which files of deploy/observability the umbrella chart ships, and where its copies go.

Helm reads only files inside a chart, so `files/observability/` of deploy/helm/flotilla holds a
copy of each Grafana dashboard, the Grafana data sources and each Prometheus rule file (not the
promtool tests: they are not rules). `devstack.charts` writes and checks the copies; this module
only says which they are, and which files in the copy folder no longer have a source.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from devstack.profiles import REPO_ROOT

__all__ = ["COPY_DIR", "OBSERVABILITY_DIR", "SHIPPED", "observability_sources", "orphaned_copies"]

OBSERVABILITY_DIR = REPO_ROOT / "deploy" / "observability"
COPY_DIR = REPO_ROOT / "deploy" / "helm" / "flotilla" / "files" / "observability"
# Globs relative to deploy/observability; rules/tests/ is left out on purpose.
SHIPPED = ("dashboards/*.json", "grafana/datasources.yaml", "rules/*.yaml")


def observability_sources(source_dir: Path = OBSERVABILITY_DIR) -> list[tuple[Path, Path]]:
    """(source file, its copy in the chart) for each shipped file, in a stable order."""
    return [
        (path, COPY_DIR / path.relative_to(source_dir))
        for pattern in SHIPPED
        for path in sorted(source_dir.glob(pattern))
    ]


def orphaned_copies(expected: Iterable[Path], copy_dir: Path = COPY_DIR) -> list[Path]:
    """Files in the copy folder that no shipped source produces (a dashboard or rule file that
    was renamed or removed): the chart would still ship them."""
    wanted = set(expected)
    found = copy_dir.rglob("*") if copy_dir.exists() else iter(())
    return sorted(path for path in found if path.is_file() and path not in wanted)
