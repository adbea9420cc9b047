"""Fixtures for tests against the dev cluster that `make k8s-up` runs (devstack.cluster).

Every test here skips when no cluster answers, so `make test` (which collects tests/) is not
affected; `make k8s-test` runs them. Each test module works in a namespace of its own that is
deleted, with its pods, before the next one starts: nothing keeps running after the tests.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

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
