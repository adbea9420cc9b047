"""A real single-node Kubernetes cluster on this machine (`make k8s-up` / `make k8s-down`).

Host processes built from the Go module proxy and Debian packages — etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, containerd + runc, the kubelet, kube-proxy, CoreDNS —
with state under `.run/k8s/` and binaries in the machine-wide cache. Nothing it runs is
reachable from outside the machine, and nothing in it can reach outside (`network`).
"""

from devstack.cluster.cluster import ClusterError, down, status, up
from devstack.cluster.layout import Layout, layout

__all__ = ["ClusterError", "Layout", "down", "layout", "status", "up"]
