"""etcd, kube-apiserver, kube-controller-manager and kube-scheduler as host processes.

Everything listens on 127.0.0.1 only. The API server runs with `--endpoint-reconciler-type=none`
(its loopback address cannot be published as the `kubernetes` Service's endpoint, so that
Service has none: pods here do not talk to the API), Node+RBAC authorization, the PodSecurity
admission plugin (on by default, so `pod-security.kubernetes.io/enforce` labels are enforced),
and reaches the kubelet by Hostname with a client certificate of its own (`kubectl logs`/`exec`).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.cluster.binaries import Binaries
from devstack.cluster.certs import write_kubeconfig
from devstack.cluster.layout import Layout
from devstack.process import ManagedProcess, port_open

__all__ = ["Component", "api_ready", "control_plane"]


@dataclass(frozen=True)
class Component:
    """A host process of the cluster: how to start it and when it counts as ready."""

    name: str
    argv: list[str]
    ready: Callable[[], bool]
    timeout: float = 60.0
    # Added to the environment the component inherits.
    env: Mapping[str, str] = field(default_factory=dict)

    def process(self, lay: Layout) -> ManagedProcess:
        return ManagedProcess(
            self.name, lay.pids / f"{self.name}.pid", lay.logs / f"{self.name}.log"
        )


def api_ready(lay: Layout, path: str = "/readyz") -> bool:
    pki = lay.pki
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    try:
        response = httpx.get(
            f"{lay.server}{path}",
            verify=context,
            timeout=2.0,
            trust_env=False,
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def control_plane(lay: Layout, binaries: Binaries) -> list[Component]:
    pki = lay.pki
    etcd_url = f"http://127.0.0.1:{lay.etcd_client_port}"
    peer_url = f"http://127.0.0.1:{lay.etcd_peer_port}"
    etcd = Component(
        "etcd",
        [
            "etcd", "--name", "flotilla", "--data-dir", str(lay.etcd_data),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"flotilla={peer_url}", "--initial-cluster-state", "new",
            "--quota-backend-bytes", str(2 * 1024**3), "--logger", "zap",
        ],
        lambda: port_open("127.0.0.1", lay.etcd_client_port),
    )  # fmt: skip
    apiserver = Component(
        "kube-apiserver",
        [
            str(binaries.kube_command("kube-apiserver")),
            "--etcd-servers", etcd_url,
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--secure-port", str(lay.apiserver_port),
            "--endpoint-reconciler-type", "none",
            "--service-cluster-ip-range", lay.service_cidr,
            "--tls-cert-file", str(pki / "apiserver.crt"),
            "--tls-private-key-file", str(pki / "apiserver.key"),
            "--client-ca-file", str(pki / "ca.crt"),
            "--service-account-issuer", f"https://kubernetes.default.svc.{lay.cluster_domain}",
            "--service-account-key-file", str(pki / "service-account.pub"),
            "--service-account-signing-key-file", str(pki / "service-account.key"),
            "--authorization-mode", "Node,RBAC",
            "--enable-admission-plugins", "NodeRestriction,PodSecurity",
            "--allow-privileged",
            "--kubelet-preferred-address-types", "Hostname",
            "--kubelet-certificate-authority", str(pki / "ca.crt"),
            "--kubelet-client-certificate", str(pki / "apiserver-kubelet-client.crt"),
            "--kubelet-client-key", str(pki / "apiserver-kubelet-client.key"),
            "--profiling=false",
        ],
        lambda: api_ready(lay),
        timeout=90.0,
    )  # fmt: skip
    controller_manager = Component(
        "kube-controller-manager",
        [
            str(binaries.kube_command("kube-controller-manager")),
            "--kubeconfig", str(_kubeconfig(lay, "controller-manager")),
            "--authentication-kubeconfig", str(_kubeconfig(lay, "controller-manager")),
            "--authorization-kubeconfig", str(_kubeconfig(lay, "controller-manager")),
            "--bind-address", "127.0.0.1", "--secure-port", str(lay.controller_manager_port),
            "--cert-dir", str(lay.config / "controller-manager-serving"),
            "--leader-elect=false",
            "--use-service-account-credentials",
            "--service-account-private-key-file", str(pki / "service-account.key"),
            "--root-ca-file", str(pki / "ca.crt"),
            "--cluster-name", "flotilla-dev",
            "--service-cluster-ip-range", lay.service_cidr,
            "--profiling=false",
        ],
        lambda: port_open("127.0.0.1", lay.controller_manager_port),
    )  # fmt: skip
    scheduler = Component(
        "kube-scheduler",
        [
            str(binaries.kube_command("kube-scheduler")),
            "--kubeconfig", str(_kubeconfig(lay, "scheduler")),
            "--authentication-kubeconfig", str(_kubeconfig(lay, "scheduler")),
            "--authorization-kubeconfig", str(_kubeconfig(lay, "scheduler")),
            "--bind-address", "127.0.0.1", "--secure-port", str(lay.scheduler_port),
            "--cert-dir", str(lay.config / "scheduler-serving"),
            "--leader-elect=false",
            "--profiling=false",
        ],
        lambda: port_open("127.0.0.1", lay.scheduler_port),
    )  # fmt: skip
    return [etcd, apiserver, controller_manager, scheduler]


def _kubeconfig(lay: Layout, identity: str) -> Path:
    return write_kubeconfig(lay, identity, lay.config / f"{identity}.kubeconfig")
