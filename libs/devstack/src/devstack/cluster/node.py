"""The node: containerd (CRI) + runc, the kubelet, kube-proxy, and CoreDNS as host processes.

Settings this host needs: cgroups v1 in hybrid mode (`failCgroupV1: false`,
cgroupfs driver everywhere), no negative OOM scores (`restrict_oom_score_adj` in containerd,
`oomScoreAdj: 0` for kube-proxy and the kubelet), a node IP that is not loopback while the
kubelet's server stays on 127.0.0.1. CoreDNS runs on the host, bound to the pod bridge's gateway
address and reading the API through a kubeconfig (pods cannot reach the loopback-only API
server); it serves the cluster zone only, with no `forward` to the host's resolvers.
"""

from __future__ import annotations

import json
import subprocess

import yaml

from devstack.cluster.binaries import Binaries
from devstack.cluster.certs import write_kubeconfig
from devstack.cluster.control_plane import Component
from devstack.cluster.images import PAUSE_IMAGE
from devstack.cluster.layout import Layout, write_config
from devstack.process import port_open

__all__ = ["containerd", "node_components", "node_ip"]


def node_ip() -> str:
    """The machine's first global IPv4 address (the kubelet refuses a loopback node IP)."""
    out = subprocess.run(
        ["ip", "-j", "-4", "addr", "show", "scope", "global"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for link in json.loads(out):
        for address in link.get("addr_info", []):
            if address.get("family") == "inet" and not str(link["ifname"]).startswith("flotilla"):
                return str(address["local"])
    raise RuntimeError("the host has no global IPv4 address to give the node")


def containerd(lay: Layout) -> Component:
    config = lay.config / "containerd.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    write_config(
        config,
        f"""version = 2
root = "{lay.containerd_root}"
state = "{lay.containerd_state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{lay.containerd_socket}"
[ttrpc]
  address = "{lay.containerd_socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{lay.containerd_root}/opt"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  BinaryName = "/usr/sbin/runc"
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{lay.cni_conf_dir}"
  max_conf_num = 1
""",
    )
    return Component(
        "containerd",
        ["containerd", "--config", str(config)],
        lambda: lay.containerd_socket.exists(),
    )


def node_components(lay: Layout, binaries: Binaries) -> list[Component]:
    """The kubelet, kube-proxy and CoreDNS (containerd starts earlier: images go in first)."""
    return [_kubelet(lay, binaries), _kube_proxy(lay, binaries), _coredns(lay, binaries)]


def _kubelet(lay: Layout, binaries: Binaries) -> Component:
    pki = lay.pki
    resolv = lay.config / "pod-resolv.conf"
    write_config(resolv, "# pods with dnsPolicy Default get no upstream resolver\n")
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": lay.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": lay.kubelet_healthz_port,
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{lay.containerd_socket}",
        "clusterDNS": [lay.dns_service_ip],
        "clusterDomain": lay.cluster_domain,
        "resolvConf": str(resolv),
        "podLogsDir": str(lay.root / "pod-logs"),
        "serializeImagePulls": False,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "maxPods": 110,
    }
    path = lay.config / "kubelet.yaml"
    write_config(path, yaml.safe_dump(config, sort_keys=False))
    kubeconfig = write_kubeconfig(lay, "kubelet", lay.config / "kubelet.kubeconfig")
    return Component(
        "kubelet",
        [
            str(binaries.kube_command("kubelet")),
            "--config", str(path),
            "--kubeconfig", str(kubeconfig),
            "--root-dir", str(lay.kubelet_root),
            "--hostname-override", lay.node_name,
            "--node-ip", node_ip(),
            "--oom-score-adj", "0",
        ],
        lambda: port_open("127.0.0.1", lay.kubelet_healthz_port),
        timeout=90.0,
    )  # fmt: skip


def _kube_proxy(lay: Layout, binaries: Binaries) -> Component:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {
            "kubeconfig": str(
                write_kubeconfig(lay, "kube-proxy", lay.config / "kube-proxy.kubeconfig")
            )
        },
        "mode": "iptables",
        "hostnameOverride": lay.node_name,
        "clusterCIDR": lay.pod_cidr,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{lay.proxy_healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{lay.proxy_metrics_port}",
        # NodePorts only on the bridge's address: reachable from this host, not from the
        # machine's network (and loopback would need the route_localnet sysctl).
        "nodePortAddresses": [f"{lay.bridge_address}/32"],
        "iptables": {"localhostNodePorts": False},
        "oomScoreAdj": 0,
        # Zeros leave the host's conntrack sysctls as they are.
        "conntrack": {"maxPerCore": 0, "min": 0},
    }
    path = lay.config / "kube-proxy.yaml"
    write_config(path, yaml.safe_dump(config, sort_keys=False))
    return Component(
        "kube-proxy",
        [str(binaries.kube_command("kube-proxy")), "--config", str(path)],
        lambda: port_open("127.0.0.1", lay.proxy_healthz_port),
    )


def _coredns(lay: Layout, binaries: Binaries) -> Component:
    kubeconfig = write_kubeconfig(lay, "coredns", lay.config / "coredns.kubeconfig")
    corefile = lay.config / "Corefile"
    write_config(
        corefile,
        f"""{lay.cluster_domain}:53 {{
    bind {lay.bridge_address}
    errors
    health 127.0.0.1:{lay.dns_health_port}
    kubernetes {lay.cluster_domain} {{
        kubeconfig {kubeconfig} flotilla-dev
        pods insecure
    }}
    cache 30
}}
""",
    )
    return Component(
        "coredns",
        [str(binaries.coredns), "-conf", str(corefile)],
        lambda: port_open("127.0.0.1", lay.dns_health_port),
    )
