"""The platform's other path onto a cluster (issue 12): `kubectl apply --server-side -k
deploy/k8s/overlays/dev`, the plain manifests without helm, from a temporary copy of deploy/k8s
whose overlay selects this tree's images (kustomize's `images`, what `kustomize edit set image`
writes) and a namespace of the test's own; every pod Ready, then everything deleted.

The base's migration Jobs (helm hook annotations are inert here) start with everything else and
wait, a bounded time, for the overlay's Postgres; the services are Ready once their Job has
migrated and the topics Job has created their topics.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from devstack.cluster.kubectl import Kubectl
from tests.k8s.conftest import (
    REPO,
    create_dev_secrets,
    delete_namespace,
    diagnose,
    restricted_namespace,
    wait_for_jobs,
)

NAMESPACE = "flotilla-kustomize"
SERVICES = ("identity", "notifications", "psp", "catalog", "orders", "payments")
WAIT_S = 420


def _image_refs() -> list[str]:
    listed = subprocess.run(
        [sys.executable, "-m", "devstack.images", "list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return listed.stdout.split()


def _overlay_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "k8s"
    shutil.copytree(REPO / "deploy" / "k8s", copy)
    overlay = copy / "overlays" / "dev"
    path = overlay / "kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    kustomization["namespace"] = NAMESPACE
    kustomization["images"] = [
        {"name": name, "newTag": tag} for name, tag in (ref.split(":", 1) for ref in _image_refs())
    ]
    path.write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return overlay


def test_the_dev_overlay_applies_server_side_and_every_pod_gets_ready(
    kubectl: Kubectl, tmp_path: Path
) -> None:
    overlay = _overlay_copy(tmp_path)
    delete_namespace(kubectl, NAMESPACE)  # what a failed earlier run left
    restricted_namespace(kubectl, NAMESPACE)
    create_dev_secrets(kubectl, NAMESPACE)
    try:
        applied = kubectl.run("apply", "--server-side", "-k", str(overlay), timeout=120)
        assert "serverside-applied" in applied.stdout, applied.stdout
        waited = kubectl.run(
            "wait", "-n", NAMESPACE, "--for=condition=Available", "deploy", "--all",
            f"--timeout={WAIT_S}s", timeout=WAIT_S + 30, check=False,
        )  # fmt: skip
        assert waited.returncode == 0, waited.stderr + diagnose(kubectl, NAMESPACE)
        deployments = {
            d["metadata"]["name"]: d["status"].get("readyReplicas", 0)
            for d in kubectl.json("deploy", "-n", NAMESPACE)["items"]
        }
        assert {name: deployments.get(name) for name in SERVICES} == dict.fromkeys(SERVICES, 1)
        # The migration Jobs (one per service) and the topics Job all complete.
        wait_for_jobs(kubectl, NAMESPACE, WAIT_S)
        pods = kubectl.json("pods", "-n", NAMESPACE)["items"]
        running = [p for p in pods if p["status"].get("phase") != "Succeeded"]
        not_ready = [
            p["metadata"]["name"]
            for p in running
            if {c["type"]: c["status"] for c in p["status"].get("conditions", [])}.get("Ready")
            != "True"
        ]
        assert not_ready == [], diagnose(kubectl, NAMESPACE)
        jobs = kubectl.json("jobs", "-n", NAMESPACE)["items"]
        incomplete = [j["metadata"]["name"] for j in jobs if not j["status"].get("succeeded")]
        assert len(jobs) == len(SERVICES) + 1, json.dumps([j["metadata"]["name"] for j in jobs])
        assert incomplete == [], diagnose(kubectl, NAMESPACE)
    finally:
        kubectl.run("delete", "-k", str(overlay), "--wait=true", "--timeout=180s",
                    "--ignore-not-found", timeout=200, check=False)  # fmt: skip
        delete_namespace(kubectl, NAMESPACE)
    left = kubectl.run("get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name")
    assert left.stdout.strip() == ""
