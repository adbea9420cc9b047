"""Fixtures for tests against the dev cluster that `make k8s-up` runs (devstack.cluster).

Every test here skips when no cluster answers, so `make test` (which collects tests/) is not
affected; `make k8s-test` runs them. Each test module works in a namespace of its own that is
deleted, with its pods, before the next one starts: nothing keeps running after the tests.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.cluster.kubectl import Kubectl, running_cluster
from devstack.cluster.layout import layout

RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


@pytest.fixture(scope="session")
def kubectl() -> Kubectl:
    found = running_cluster(layout())
    if found is None:
        pytest.skip("no dev cluster runs here: `make k8s-up` starts one")
    return found


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    """A PodSecurity-restricted namespace, deleted (pods and all) after the test."""
    name = f"k8s-smoke-{secrets.token_hex(3)}"
    kubectl.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": RESTRICTED},
            }
        ]
    )
    yield name
    kubectl.run("delete", "namespace", name, "--wait=true", "--timeout=90s", timeout=120)


# -- the platform, installed with helm (test_platform.py) --------------------------------------

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "flotilla"
PLATFORM_NAMESPACE = "flotilla-k8s"
# The dev values name the in-cluster Postgres and Kafka `flotilla-postgres` / `flotilla-kafka`
# (and dev-secrets.sh points the database URLs there): the release must be called `flotilla`.
RELEASE = "flotilla"
SERVICES = ("identity", "notifications", "psp", "catalog", "orders", "payments")
SCALED = {"orders": 2, "payments": 2}
INSTALL_TIMEOUT_S = 420


@dataclass(frozen=True)
class Helm:
    binary: str
    kubectl: Kubectl

    def run(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubectl.lay.kubeconfig)}
        try:
            result = subprocess.run(
                [self.binary, *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=env,
            )
        except subprocess.TimeoutExpired as error:
            raise AssertionError(
                f"helm {' '.join(args[:2])} took over {timeout:.0f}s\n"
                + diagnose(self.kubectl, PLATFORM_NAMESPACE)
            ) from error
        if check and result.returncode != 0:
            raise AssertionError(
                f"helm {' '.join(args)} failed: {result.stderr[-3000:]}\n"
                + diagnose(self.kubectl, PLATFORM_NAMESPACE)
            )
        return result


def diagnose(kubectl: Kubectl, namespace: str) -> str:
    """What a failed wait needs: the pods, and for each one not Ready its description's events
    and its logs' tail."""
    out = [kubectl.run("get", "pods,jobs", "-n", namespace, "-o", "wide", check=False).stdout]
    pods = kubectl.run("get", "pods", "-n", namespace, "-o", "json", check=False)
    items = json.loads(pods.stdout or '{"items": []}')["items"]
    for pod in items:
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        if conditions.get("Ready") == "True" or pod["status"].get("phase") == "Succeeded":
            continue
        name = pod["metadata"]["name"]
        described = kubectl.run("describe", "pod", "-n", namespace, name, check=False).stdout
        logs = kubectl.run(
            "logs", "-n", namespace, name, "--all-containers", "--tail=30", check=False
        )
        out += [f"--- {name} not ready", described[-2500:], logs.stdout[-2500:], logs.stderr[-500:]]
    return "\n".join(out)


def wait_for_jobs(kubectl: Kubectl, namespace: str, timeout_s: int) -> None:
    """Every Job of the namespace Complete, waited for as a condition before its pods are read:
    a Job's pod reads "Completed" as soon as its container ends, but its phase turns Succeeded
    only when the kubelet next reports (until then it is a running pod that is not ready), and
    the Job controller counts it a moment after that. A Job is Complete once its pod is
    Succeeded."""
    if not kubectl.json("jobs", "-n", namespace)["items"]:
        return
    completed = kubectl.run(
        "wait", "-n", namespace, "--for=condition=Complete", "job", "--all",
        f"--timeout={timeout_s}s", timeout=timeout_s + 30, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr + diagnose(kubectl, namespace)


def image_flags() -> list[str]:
    """The `--set` flags of `python -m devstack.images helm-set` (`make k8s-test` passes them as
    FLOTILLA_K8S_HELM_SET: the images it built and loaded)."""
    flags = (
        os.environ.get("FLOTILLA_K8S_HELM_SET")
        or subprocess.run(
            [sys.executable, "-m", "devstack.images", "helm-set"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    return shlex.split(flags)


@pytest.fixture(scope="session")
def helm(kubectl: Kubectl) -> Helm:
    binary = (
        os.environ.get("FLOTILLA_HELM")
        or subprocess.run(
            [sys.executable, "-m", "devstack.toolchain", "path", "helm"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
    )
    return Helm(binary, kubectl)


def free_released_volumes(kubectl: Kubectl, namespace: str) -> None:
    """The static volumes are Retain: a claim of `namespace` deleted leaves its volume Released
    with the old data (an old Postgres password). Empty them and hand them back."""
    for volume in kubectl.json("pv")["items"]:
        claim = volume["spec"].get("claimRef") or {}
        if volume["status"].get("phase") != "Released" or claim.get("namespace") != namespace:
            continue
        path = volume["spec"]["local"]["path"]
        subprocess.run(["find", path, "-mindepth", "1", "-delete"], check=True, timeout=60)
        kubectl.run(
            "patch",
            "pv",
            volume["metadata"]["name"],
            "--type=json",
            "-p",
            '[{"op":"remove","path":"/spec/claimRef"}]',
        )


def delete_platform(helm: Helm, kubectl: Kubectl) -> None:
    """Uninstall the release if there is one, delete the namespace, free its volumes."""
    if helm.run("status", RELEASE, "-n", PLATFORM_NAMESPACE, check=False).returncode == 0:
        helm.run("uninstall", RELEASE, "-n", PLATFORM_NAMESPACE, "--wait", "--timeout", "3m",
                 timeout=200)  # fmt: skip
    kubectl.run(
        "delete", "namespace", PLATFORM_NAMESPACE, "--ignore-not-found", "--wait=true",
        "--timeout=180s", timeout=200,
    )  # fmt: skip
    free_released_volumes(kubectl, PLATFORM_NAMESPACE)


def dns_flags() -> list[str]:
    """This cluster's DNS is CoreDNS on the host, at the bridge's address (devstack.cluster
    .addons), not a pod of kube-system: the NetworkPolicies' DNS egress names it by address."""
    peer = {"ipBlock": {"cidr": f"{layout().bridge_address}/32"}}
    return ["--set-json", f"global.flotilla.networkPolicy.dns.to={json.dumps([peer])}"]


def install_flags() -> list[str]:
    flags = ["-n", PLATFORM_NAMESPACE, "-f", str(CHART / "values-dev.yaml"), *image_flags()]
    flags += dns_flags()
    for service, count in SCALED.items():
        flags += ["--set", f"{service}.replicaCount={count}"]
    return flags


@pytest.fixture(scope="session")
def platform(helm: Helm, kubectl: Kubectl) -> Iterator[str]:
    """The umbrella chart installed with the dev values into a PodSecurity-restricted namespace,
    every pod Ready; the release and the namespace are gone afterwards. Yields the namespace."""
    delete_platform(helm, kubectl)  # what a failed earlier run left
    kubectl.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": PLATFORM_NAMESPACE, "labels": RESTRICTED},
            }
        ]
    )
    create_dev_secrets(kubectl, PLATFORM_NAMESPACE)
    try:
        install(helm)
        yield PLATFORM_NAMESPACE
    finally:
        delete_platform(helm, kubectl)


def create_dev_secrets(kubectl: Kubectl, namespace: str) -> None:
    """deploy/k8s/dev-secrets.sh, as its README says, with the cluster's kubectl."""
    bin_dir = str(Path(kubectl.binary).parent)
    subprocess.run(
        ["bash", str(REPO / "deploy" / "k8s" / "dev-secrets.sh"), namespace],
        env={
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "KUBECONFIG": str(kubectl.lay.kubeconfig),
        },
        check=True,
        capture_output=True,
        timeout=120,
    )


def restricted_namespace(kubectl: Kubectl, name: str) -> None:
    kubectl.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": RESTRICTED},
            }
        ]
    )


def delete_namespace(kubectl: Kubectl, name: str) -> None:
    """The namespace and everything in it, then its claims' volumes freed."""
    kubectl.run("delete", "namespace", name, "--ignore-not-found", "--wait=true",
                "--timeout=180s", timeout=200)  # fmt: skip
    free_released_volumes(kubectl, name)


def install(helm: Helm) -> None:
    """One plain `helm install --wait`, as the chart README says: the dev values migrate in each
    pod's init container (waiting for the release's own Postgres) and create the topics with an
    ordinary Job beside the release's own Kafka, so nothing waits on a hook."""
    helm.run("install", RELEASE, str(CHART), *install_flags(), "--wait", "--timeout",
             f"{INSTALL_TIMEOUT_S}s", timeout=INSTALL_TIMEOUT_S + 30)  # fmt: skip


def seed_demo_catalog(kubectl: Kubectl, namespace: str) -> None:
    """catalog's demo products (`python -m catalog seed-demo`: the ones not there yet)."""
    kubectl.run("exec", "-n", namespace, "deploy/catalog", "--", "python", "-m", "catalog",
                "seed-demo", timeout=60)  # fmt: skip
