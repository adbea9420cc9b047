"""kubectl kustomize builds each overlay into valid objects: the same ones Helm installs."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devstack.profiles import REPO_ROOT

Object = dict[str, Any]
K8S = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = {"dev": "values-dev.yaml", "prod": "values-prod.yaml"}


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_overlay_builds_valid_objects(
    kustomize: Callable[[Path], list[Object]],
    validate: Callable[[list[Object]], list[str]],
    overlay: str,
) -> None:
    objects = kustomize(K8S / "overlays" / overlay)
    assert objects
    assert validate(objects) == []


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_overlay_has_the_objects_helm_installs_with_that_values_file(
    kustomize: Callable[[Path], list[Object]],
    helm_template: Callable[..., list[Object]],
    overlay: str,
) -> None:
    built = kustomize(K8S / "overlays" / overlay)
    rendered = helm_template(values=[OVERLAYS[overlay]])
    if overlay == "dev":
        # The dev values migrate in each pod's init container (one `helm install` brings up its
        # own Postgres); the overlay keeps the base's migration Jobs, which kubectl applies at
        # once with everything else and which wait for that Postgres.
        migrations = {(kind, f"{service}-migrate") for kind in ("Job", "ServiceAccount")
                      for service in _settings(built)}  # fmt: skip
        assert _names(built) == _names(rendered) | migrations
    else:
        assert _names(built) == _names(rendered)
    assert _images(built) == _images(rendered)
    assert _settings(built) == _settings(rendered)


def test_dev_overlay_runs_postgres_and_kafka_in_the_cluster(
    kustomize: Callable[[Path], list[Object]],
) -> None:
    objects = kustomize(K8S / "overlays" / "dev")
    statefulsets = {o["metadata"]["name"] for o in objects if o["kind"] == "StatefulSet"}
    assert statefulsets == {"flotilla-postgres", "flotilla-kafka"}
    assert {o["metadata"].get("namespace") for o in objects} == {"flotilla-dev"}


def test_a_broken_overlay_fails_to_build(tools: Any, tmp_path: Path) -> None:
    shutil.copytree(K8S, tmp_path / "k8s")
    kustomization = tmp_path / "k8s" / "overlays" / "prod" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("../../base", "../../basis"))
    result = tools.run(tools.kubectl, "kustomize", kustomization.parent)
    assert result.returncode != 0
    assert "basis" in result.stderr


def _names(objects: list[Object]) -> set[tuple[str, str]]:
    """Kinds and names; a Job's name ends with a hash of its image, which an overlay's image
    override does not recompute."""
    return {(o["kind"], re.sub(r"-[0-9a-f]{8}$", "", o["metadata"]["name"]) if o["kind"] == "Job"
             else o["metadata"]["name"]) for o in objects}  # fmt: skip


def _images(objects: list[Object]) -> set[str]:
    return {
        container["image"]
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet", "Job")
        for container in o["spec"]["template"]["spec"]["containers"]
    }


def _settings(objects: list[Object]) -> dict[str, dict[str, str]]:
    """Each service's ConfigMap: what its process reads."""
    return {
        o["metadata"]["name"]: o["data"]
        for o in objects
        if o["kind"] == "ConfigMap" and "SERVICE_NAME" in o.get("data", {})
    }
