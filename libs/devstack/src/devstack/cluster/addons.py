"""The objects a bare cluster lacks and Flotilla's charts expect, applied server-side on `up`.

- Cluster DNS: the `kube-dns` Service at the address the kubelet writes into every pod's
  resolv.conf, with a hand-made EndpointSlice pointing at CoreDNS on the bridge's gateway
  address (CoreDNS runs on the host, see `devstack.cluster.node`), and RBAC for CoreDNS's and
  the policy controller's users.
- Storage: a default StorageClass without a provisioner and a few static local
  PersistentVolumes under `.run/k8s/volumes/`, enough for the dev Postgres and Kafka claims
  (templates/dev-*.yaml ask for 2Gi each from the default class) and a test or two. They use
  `Retain`: a released volume keeps its data until `down` + removing `.run/k8s`.
"""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from devstack.cluster.layout import Layout
from devstack.cluster.netpol import SERVICE_ACCOUNT

__all__ = ["STORAGE_CLASS", "addon_objects", "apply"]

STORAGE_CLASS = "flotilla-local"
_VOLUMES = 6
_VOLUME_SIZE = "10Gi"


def addon_objects(lay: Layout) -> list[dict[str, Any]]:
    return [*_dns(lay), *_rbac(), *_storage(lay)]


def apply(lay: Layout, kubectl: str, objects: list[dict[str, Any]]) -> None:
    result = subprocess.run(
        [
            kubectl, "--kubeconfig", str(lay.kubeconfig), "apply", "--server-side",
            "--field-manager", "flotilla-devstack", "--force-conflicts", "-f", "-",
        ],
        input=yaml.safe_dump_all(objects, sort_keys=False),
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"kubectl apply of the cluster add-ons failed: {result.stderr.strip()}")


def _dns(lay: Layout) -> list[dict[str, Any]]:
    ports = [
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kube-dns",
                "namespace": "kube-system",
                "labels": {"k8s-app": "kube-dns"},
            },
            "spec": {"clusterIP": lay.dns_service_ip, "ports": ports},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kube-dns-host",
                "namespace": "kube-system",
                "labels": {
                    "kubernetes.io/service-name": "kube-dns",
                    "endpointslice.kubernetes.io/managed-by": "flotilla-devstack",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [lay.bridge_address], "conditions": {"ready": True}}],
            "ports": ports,
        },
    ]


def _rbac() -> list[dict[str, Any]]:
    read = ["get", "list", "watch"]
    roles = {
        "flotilla:coredns": [
            {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
             "verbs": read},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
        ],
        "flotilla:network-policies": [
            {"apiGroups": [""], "resources": ["pods", "namespaces", "nodes"], "verbs": read},
            {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": read},
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"],
             "verbs": ["create", "patch", "update"]},
            {"apiGroups": ["policy.networking.k8s.io"],
             "resources": ["adminnetworkpolicies", "baselineadminnetworkpolicies"],
             "verbs": read},
        ],
    }  # fmt: skip
    subjects = {
        "flotilla:coredns": {"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                             "name": "flotilla:coredns"},
        # kube-network-policies knows only in-cluster config: a ServiceAccount token.
        "flotilla:network-policies": {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT,
                                      "namespace": "kube-system"},
    }  # fmt: skip
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": "kube-system"},
        }
    ]
    for user, rules in roles.items():
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": user},
                "rules": rules,
            }
        )
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": user},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": user,
                },
                "subjects": [subjects[user]],
            }
        )
    return objects


def _storage(lay: Layout) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Retain",
        }
    ]
    for number in range(_VOLUMES):
        folder = lay.volumes / f"pv-{number}"
        folder.mkdir(parents=True, exist_ok=True)
        # Pods run as arbitrary non-root users; fsGroup covers local volumes, this the rest.
        folder.chmod(0o777)
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"flotilla-local-{number}"},
                "spec": {
                    "capacity": {"storage": _VOLUME_SIZE},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": STORAGE_CLASS,
                    "local": {"path": str(folder)},
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "kubernetes.io/hostname",
                                            "operator": "In",
                                            "values": [lay.node_name],
                                        }
                                    ]
                                }
                            ]
                        }
                    },
                },
            }
        )
    return objects
