"""NetworkPolicies are enforced (kube-network-policies on the host, devstack.cluster.netpol):
once a policy selects the server, only the pods it allows still connect."""

from __future__ import annotations

import time
from typing import Any

import pytest

from devstack.cluster.images import BUSYBOX_IMAGE
from devstack.cluster.kubectl import Kubectl
from devstack.cluster.netpol import nft_queue_problem

BUSYBOX = "/bin/busybox"
# Bounded by busybox's `timeout`: wget's own -T crashes Debian's static busybox 1.35.
WGET = (BUSYBOX, "timeout", "5", BUSYBOX, "wget", "-q", "-O", "-")
_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _pod(name: str, namespace: str, role: str, command: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"role": role}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": name,
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": [BUSYBOX, "sh", "-c", command],
                    "securityContext": _SECURITY,
                    "volumeMounts": [{"name": "www", "mountPath": "/www"}],
                }
            ],
            "volumes": [{"name": "www", "emptyDir": {}}],
        },
    }


def _reaches(kubectl: Kubectl, namespace: str, client: str, url: str) -> bool:
    result = kubectl.run(
        "exec", "-n", namespace, client, "--", *WGET, url,
        check=False, timeout=30,
    )  # fmt: skip
    return result.returncode == 0 and result.stdout.strip() == "policy-smoke"


def test_a_policy_lets_the_allowed_pod_in_and_keeps_the_other_out(
    kubectl: Kubectl, namespace: str
) -> None:
    problem = nft_queue_problem()
    if problem is not None:
        pytest.skip(f"NetworkPolicies are not enforced on this host: {problem}")
    serve = f"echo policy-smoke > /www/index.html && exec {BUSYBOX} httpd -f -p 8080 -h /www"
    sleep = f"exec {BUSYBOX} sleep 600"
    kubectl.apply(
        [
            _pod("server", namespace, "server", serve),
            _pod("allowed", namespace, "allowed", sleep),
            _pod("other", namespace, "other", sleep),
        ]
    )
    for pod in ("server", "allowed", "other"):
        kubectl.run("wait", "-n", namespace, f"pod/{pod}", "--for=condition=Ready", "--timeout=90s")
    url = f"http://{kubectl.json('pod', 'server', '-n', namespace)['status']['podIP']}:8080/"
    assert _reaches(kubectl, namespace, "other", url), "no policy yet: every pod connects"

    kubectl.apply(
        [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "server-from-allowed", "namespace": namespace},
                "spec": {
                    "podSelector": {"matchLabels": {"role": "server"}},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "allowed"}}}]}],
                },
            }
        ]
    )
    # The controller picks the policy up within a few seconds; bounded at 20 tries.
    refused = False
    for _ in range(20):
        if not _reaches(kubectl, namespace, "other", url):
            refused = True
            break
        time.sleep(1)
    assert refused, "the policy never kept the other pod out"
    assert _reaches(kubectl, namespace, "allowed", url)
