"""The dev cluster works the way workloads need it to: a Ready node at the pinned version, a
Deployment reached through a ClusterIP Service by address and by DNS name from another pod,
a claim bound to a static volume and written to, and PodSecurity `restricted` enforced.

The pods run the cluster's own busybox image (`devstack.cluster.images`), as restricted pods:
non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp, read-only root.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from devstack.cluster.images import BUSYBOX_IMAGE
from devstack.cluster.kubectl import Kubectl

BUSYBOX = "/bin/busybox"
# Bounded by busybox's `timeout`: wget's own -T crashes Debian's static busybox 1.35.
WGET = (BUSYBOX, "timeout", "5", BUSYBOX, "wget", "-q", "-O", "-")


def _restricted(container: dict[str, Any]) -> dict[str, Any]:
    return {
        **container,
        "image": BUSYBOX_IMAGE,
        "imagePullPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def _pod(name: str, namespace: str, command: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [_restricted({"name": name, "command": [BUSYBOX, "sh", "-c", command]})],
            **spec,
        },
    }


def _wait(kubectl: Kubectl, namespace: str, what: str, condition: str) -> None:
    kubectl.run("wait", "-n", namespace, what, f"--for={condition}", "--timeout=90s", timeout=100)


def test_node_is_ready_at_the_pinned_version(kubectl: Kubectl) -> None:
    node = kubectl.json("node", kubectl.lay.node_name)
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.37.2"
    version = kubectl.run("version", "-o", "json").stdout
    assert '"gitVersion": "v1.37.2"' in version


def test_deployment_answers_through_its_service_by_address_and_by_name(
    kubectl: Kubectl, namespace: str
) -> None:
    serve = f"echo flotilla-smoke > /www/index.html && exec {BUSYBOX} httpd -f -p 8080 -h /www"
    web = _pod("web", namespace, serve)["spec"]
    web["containers"][0]["volumeMounts"] = [{"name": "www", "mountPath": "/www"}]
    web["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/", "port": 8080}}
    web["volumes"] = [{"name": "www", "emptyDir": {}}]
    kubectl.apply(
        [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": namespace},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": web},
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "namespace": namespace},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
            },
            _pod("client", namespace, f"exec {BUSYBOX} sleep 600"),
        ]
    )
    _wait(kubectl, namespace, "deployment/web", "condition=Available")
    _wait(kubectl, namespace, "pod/client", "condition=Ready")
    cluster_ip = kubectl.json("service", "web", "-n", namespace)["spec"]["clusterIP"]
    for url in (
        f"http://{cluster_ip}/",
        f"http://web.{namespace}.svc.cluster.local/",
        "http://web/",
    ):
        assert _fetch(kubectl, namespace, url) == "flotilla-smoke", url


def test_cluster_dns_answers_for_the_cluster_zone_only(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply([_pod("asker", namespace, f"exec {BUSYBOX} sleep 600")])
    _wait(kubectl, namespace, "pod/asker", "condition=Ready")

    def lookup(name: str) -> subprocess.CompletedProcess[str]:
        return kubectl.run(
            "exec", "-n", namespace, "asker", "--", BUSYBOX, "timeout", "10", BUSYBOX,
            "nslookup", name, check=False, timeout=30,
        )  # fmt: skip

    inside = lookup("kubernetes.default.svc.cluster.local")
    assert inside.returncode == 0, inside.stdout + inside.stderr
    assert "10.96.0.1" in inside.stdout
    # No `forward`: a name outside the cluster gets no answer, the query never leaves.
    outside = lookup("example.com.")
    assert outside.returncode != 0
    assert "REFUSED" in outside.stdout


def _fetch(kubectl: Kubectl, namespace: str, url: str) -> str:
    """wget from the client pod; a few tries while kube-proxy programs the new Service."""
    last = ""
    for _ in range(10):
        result = kubectl.run(
            "exec", "-n", namespace, "client", "--", *WGET,
            url, check=False, timeout=30,
        )  # fmt: skip
        if result.returncode == 0:
            return result.stdout.strip()
        last = result.stderr
        time.sleep(1)
    raise AssertionError(f"{url} did not answer from a pod: {last}")


def test_claim_binds_to_a_static_volume_and_keeps_what_a_pod_wrote(
    kubectl: Kubectl, namespace: str
) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    writer = _pod("writer", namespace, "echo kept > /data/proof && cat /data/proof")
    writer["spec"]["restartPolicy"] = "Never"
    writer["spec"]["securityContext"] = {"fsGroup": 10001}
    writer["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    writer["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    kubectl.apply([claim, writer])
    _wait(kubectl, namespace, "pod/writer", "jsonpath={.status.phase}=Succeeded")
    bound = kubectl.json("pvc", "data", "-n", namespace)
    assert bound["status"]["phase"] == "Bound"
    assert kubectl.run("logs", "-n", namespace, "writer").stdout.strip() == "kept"
    volume = bound["spec"]["volumeName"]
    kubectl.run("delete", "-n", namespace, "pod/writer", "pvc/data", "--wait=true")
    # The static volume is Retain: clear it and hand it back for the next claim.
    path = kubectl.json("pv", volume)["spec"]["local"]["path"]
    subprocess.run(["find", path, "-mindepth", "1", "-delete"], check=True)
    kubectl.run(
        "patch", "pv", volume, "--type=json", "-p", '[{"op":"remove","path":"/spec/claimRef"}]'
    )


def test_restricted_namespace_refuses_a_privileged_pod(kubectl: Kubectl, namespace: str) -> None:
    pod = _pod("privileged", namespace, "true")
    pod["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    out = kubectl.apply([pod], check=False)
    assert 'violates PodSecurity "restricted:latest"' in out
    assert "privileged" in out
    pods = kubectl.json("pods", "-n", namespace)["items"]
    assert pods == []
