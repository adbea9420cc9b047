"""Where the dev cluster lives, which loopback ports it takes and which addresses it hands out.

One cluster per checkout: everything it writes (certificates, etcd data, containerd's root and
state, the kubelet's root, logs, pid files) sits under `.run/k8s/`, so `down` knows what to
remove and two checkouts never share state. The ports are fixed and chosen away from those of
`make up` / `make test`; the pod and service ranges are private ranges that only ever exist
inside this machine (blackholed on the host, see `devstack.cluster.network`).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from devstack.profiles import REPO_ROOT

__all__ = ["KUBERNETES_VERSION", "Layout", "layout", "write_config"]

KUBERNETES_VERSION = "v1.37.2"


@dataclass(frozen=True)
class Layout:
    root: Path
    etcd_client_port: int = 32379
    etcd_peer_port: int = 32380
    apiserver_port: int = 36443
    controller_manager_port: int = 30257
    scheduler_port: int = 30259
    kubelet_port: int = 30250
    kubelet_healthz_port: int = 30248
    proxy_healthz_port: int = 30256
    proxy_metrics_port: int = 30249
    dns_health_port: int = 30253
    network_policies_metrics_port: int = 30280
    pod_cidr: str = "10.244.0.0/16"
    # The one node's share of the pod range: the bridge's gateway is its first address.
    node_pod_cidr: str = "10.244.0.0/24"
    bridge_address: str = "10.244.0.1"
    service_cidr: str = "10.96.0.0/16"
    dns_service_ip: str = "10.96.0.10"
    bridge: str = "flotilla0"
    cluster_domain: str = "cluster.local"

    @property
    def node_name(self) -> str:
        """The host's name: it resolves to 127.0.0.1 here, where the kubelet's server listens
        (the API server reaches the kubelet by Hostname, see `control_plane`)."""
        return socket.gethostname().lower()

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_state_dir(self) -> Path:
        """host-local IPAM's allocations (default /var/lib/cni would outlive the cluster)."""
        return self.root / "cni" / "ipam"

    @property
    def volumes(self) -> Path:
        """Host folders behind the static PersistentVolumes."""
        return self.root / "volumes"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (`python -m devstack.cluster kubeconfig` prints its path)."""
        return self.root / "kubeconfig"

    @property
    def host_state(self) -> Path:
        """What `up` changed on the host (sysctls, routes) so `down` can put it back."""
        return self.root / "host-state.json"


def layout() -> Layout:
    """The checkout's cluster; FLOTILLA_K8S_ROOT moves it (a short path for deep mounts)."""
    root = os.environ.get("FLOTILLA_K8S_ROOT")
    return Layout(root=Path(root) if root else REPO_ROOT / ".run" / "k8s")


def write_config(path: Path, text: str) -> Path:
    """Write a component's configuration only when it changes: kube-proxy exits when its
    file is written at all, and a second `up` must leave running components alone."""
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path
