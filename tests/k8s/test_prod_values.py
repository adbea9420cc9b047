"""The production values checked by a real API server (issue 12): `helm template` with
values-prod.yaml, then `kubectl apply --dry-run=server` of every object into a restricted
namespace, with the CRDs those objects need installed first: the Gateway API's and the
prometheus-operator's from the tool cache (devstack.toolchain's `crds`, what `make deploy-check`
validates against), and Strimzi's KafkaTopic and KafkaUser from tests/deploy/crds. The server
runs admission (PodSecurity `restricted` included), defaulting and each CRD's structural schema
with strict field validation; nothing is persisted. The CRDs are deleted afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from devstack.cluster.kubectl import Kubectl
from tests.k8s.conftest import CHART, RELEASE, REPO, Helm

OUR_CRDS = REPO / "tests" / "deploy" / "crds"


def _cached_crds() -> Path:
    located = subprocess.run(
        [sys.executable, "-m", "devstack.toolchain", "path", "crds"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    return Path(os.environ.get("FLOTILLA_CRDS") or located)


@pytest.fixture(scope="module")
def crds(kubectl: Kubectl) -> Iterator[list[str]]:
    """The CRDs installed (server-side: some exceed client-side apply's annotation limit) and
    Established; deleted afterwards. Yields their names."""
    files = sorted([*_cached_crds().glob("*.yaml"), *OUR_CRDS.glob("*.yaml")])
    names = [yaml.safe_load(path.read_text())["metadata"]["name"] for path in files]
    try:
        for path in files:
            kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(path), timeout=60)
        kubectl.run("wait", "--for=condition=Established", "--timeout=60s",
                    *(f"crd/{name}" for name in names), timeout=90)  # fmt: skip
        yield names
    finally:
        kubectl.run("delete", "crd", "--ignore-not-found", "--wait=true", "--timeout=60s", *names,
                    timeout=90, check=False)  # fmt: skip


def test_prod_values_pass_the_api_servers_dry_run(
    kubectl: Kubectl, helm: Helm, crds: list[str], namespace: str
) -> None:
    assert {
        "httproutes.gateway.networking.k8s.io",
        "servicemonitors.monitoring.coreos.com",
        "prometheusrules.monitoring.coreos.com",
        "kafkatopics.kafka.strimzi.io",
        "kafkausers.kafka.strimzi.io",
    } <= set(crds)
    rendered = helm.run(
        "template", RELEASE, str(CHART), "-n", namespace, "-f", str(CHART / "values-prod.yaml")
    ).stdout
    objects = [o for o in yaml.safe_load_all(rendered) if o]
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Job", "HTTPRoute", "KafkaTopic", "KafkaUser", "ServiceMonitor",
            "PrometheusRule"} <= kinds  # fmt: skip
    result = kubectl.run(
        "apply", "--dry-run=server", "--server-side", "--validate=strict", "-n", namespace,
        "-f", "-", stdin=rendered, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    applied = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(applied) == len(objects), result.stdout
    assert all(line.endswith("serverside-applied (server dry run)") for line in applied), (
        result.stdout
    )
    # PodSecurity's restricted profile warns (it does not refuse) in a dry run of a Deployment:
    # any warning here is a pod the namespace would refuse.
    assert "would violate PodSecurity" not in result.stderr, result.stderr
