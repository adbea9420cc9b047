"""Which files are generated from the manifests, computing their expected text, and comparing
it with what is committed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml

from contracts.artifacts import packaged_topic_file
from contracts.manifest import ServiceManifest, load_manifests
from devstack.manifests import chart_values, delivery, platform_files, workspace
from devstack.manifests.blocks import BlockError, sections

__all__ = ["GeneratedFile", "ManifestSetError", "expected_files", "stale_files", "write_files"]

Render = Callable[[Sequence[ServiceManifest], str, str], str]
"""(manifests in slot order, the file's committed text, its path as shown) -> its expected text"""

TOPICS = "deploy/topics.yaml"
PACKAGED_TOPICS = "libs/contracts/src/contracts/topics.yaml"
VALUES_PROD = "deploy/helm/flotilla/values-prod.yaml"

# In this order: the packaged topic copy follows the topic file, the prod overlay reads the
# prod values' `downstreams`.
_TARGETS: tuple[tuple[str, Render], ...] = (
    ("pyproject.toml", workspace.pyproject),
    ("deploy/routes.yaml", platform_files.routes),
    (TOPICS, platform_files.topics),
    ("deploy/observability/rules/platform.yaml", platform_files.alert_rules),
    ("skaffold.yaml", delivery.skaffold),
    ("deploy/helm/flotilla/Chart.yaml", delivery.chart_dependencies),
    ("deploy/helm/flotilla/values.yaml", chart_values.values),
    ("deploy/helm/flotilla/values-dev.yaml", chart_values.values_dev),
    (VALUES_PROD, chart_values.values_prod),
    ("deploy/helm/flotilla/values.schema.json", chart_values.schema),
    ("deploy/k8s/dev-secrets.sh", delivery.dev_secrets),
    ("deploy/k8s/overlays/dev/kustomization.yaml", delivery.dev_overlay),
)
_PROD_OVERLAY = "deploy/k8s/overlays/prod/kustomization.yaml"


class ManifestSetError(ValueError):
    """The manifests are valid one by one but cannot be laid out; the message says why."""


@dataclass(frozen=True)
class GeneratedFile:
    path: Path
    shown: str
    """Its path from the repository root, as messages name it."""
    text: str


def expected_files(root: Path) -> list[GeneratedFile]:
    """Every generated file's expected text. Raises ManifestError (an invalid manifest),
    ManifestSetError or BlockError (a marker line missing from a file)."""
    manifests = load_manifests(root / "services")
    _check_slots(manifests)
    files: dict[str, GeneratedFile] = {}
    for shown, render in _TARGETS:
        files[shown] = _render(root, shown, partial(render, manifests))
    topics = files[TOPICS]
    files[PACKAGED_TOPICS] = GeneratedFile(
        root / PACKAGED_TOPICS, PACKAGED_TOPICS, _packaged_topics(root, topics.text)
    )
    prod_values = yaml.safe_load(files[VALUES_PROD].text) or {}
    version = str(_read_yaml(root / "deploy/helm/flotilla/Chart.yaml")["appVersion"])
    files[_PROD_OVERLAY] = _render(
        root,
        _PROD_OVERLAY,
        partial(delivery.prod_overlay, manifests, prod_values=prod_values, version=version),
    )
    return list(files.values())


def stale_files(files: Sequence[GeneratedFile]) -> list[str]:
    """Each file (or generated block of it) whose committed text differs from the expected."""
    problems = []
    for file in files:
        if not file.path.exists():
            problems.append(f"{file.shown} is missing")
            continue
        current = file.path.read_text(encoding="utf-8")
        if current == file.text:
            continue
        blocks = _stale_blocks(current, file.text, file.shown)
        if blocks:
            problems.extend(f"{file.shown}: block `{name}` is stale" for name in blocks)
        else:
            problems.append(f"{file.shown} is stale")
    return problems


def write_files(files: Sequence[GeneratedFile]) -> list[str]:
    """Write the files that differ; their paths as shown."""
    written = []
    for file in files:
        if file.path.exists() and file.path.read_text(encoding="utf-8") == file.text:
            continue
        file.path.write_text(file.text, encoding="utf-8")
        written.append(file.shown)
    return written


def _render(root: Path, shown: str, render: Callable[[str, str], str]) -> GeneratedFile:
    path = root / shown
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BlockError(f"{shown}: no such file (it holds generated blocks)") from None
    return GeneratedFile(path, shown, render(current, shown))


def _packaged_topics(root: Path, topics_text: str) -> str:
    """contracts' copy of the topic file, as `make contracts` writes it, of the expected text."""
    source = root / TOPICS
    # packaged_topic_file reads the committed file: keep only the header it puts above it.
    header = packaged_topic_file(source).removesuffix(source.read_text(encoding="utf-8"))
    return header + topics_text


def _stale_blocks(current: str, expected: str, shown: str) -> list[str]:
    """The names of the blocks that differ; empty when the file differs elsewhere too."""
    try:
        now, then = dict(sections(current, shown)), dict(sections(expected, shown))
    except BlockError:
        return []
    names = [name for name in then if now.get(name) != then[name]]
    return names + [name for name in now if name not in then]


def _check_slots(manifests: Sequence[ServiceManifest]) -> None:
    """The local stack gives the i-th service (slot order) the i-th port: slots are 0..n-1."""
    for index, manifest in enumerate(manifests):
        if manifest.slot != index:
            raise ManifestSetError(
                f"services/{manifest.name}: slot {manifest.slot} leaves slot {index} free; the "
                f"local stack gives the services ports in slot order, so slots run from 0 "
                f"without a gap: take slot {index}"
            )


def _read_yaml(path: Path) -> dict[str, object]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document if isinstance(document, dict) else {}
