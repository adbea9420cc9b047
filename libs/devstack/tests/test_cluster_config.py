"""The dev cluster's configuration keeps every packet on this machine and never touches what it
did not create — checked offline, without root or a running cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devstack.cluster import host, network
from devstack.cluster.addons import STORAGE_CLASS, addon_objects
from devstack.cluster.binaries import Binaries
from devstack.cluster.layout import Layout, write_config
from devstack.cluster.node import node_components


@pytest.fixture
def lay(tmp_path: Path) -> Layout:
    return Layout(root=tmp_path / "k8s")


def test_pods_get_routes_to_the_cluster_only_and_no_masquerade(lay: Layout) -> None:
    bridge = network.cni_config(lay)["plugins"][0]
    assert bridge["ipMasq"] is False
    assert "isDefaultGateway" not in bridge
    routes = [route["dst"] for route in bridge["ipam"]["routes"]]
    assert sorted(routes) == sorted([lay.pod_cidr, lay.service_cidr])


def test_cluster_dns_has_no_upstream_and_listens_on_the_bridge(
    lay: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("devstack.cluster.node.node_ip", lambda: "192.0.2.2")
    binaries = Binaries(kube=Path("/k"), coredns=Path("/c"), pause=Path("/p"))
    lay.config.mkdir(parents=True)
    node_components(lay, binaries)
    corefile = (lay.config / "Corefile").read_text()
    assert "forward" not in corefile
    assert f"bind {lay.bridge_address}" in corefile
    assert corefile.startswith(f"{lay.cluster_domain}:53 {{")
    assert (lay.config / "pod-resolv.conf").read_text().count("nameserver") == 0


def test_every_component_listens_on_loopback_only(
    lay: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("devstack.cluster.node.node_ip", lambda: "192.0.2.2")
    lay.config.mkdir(parents=True)
    node_components(lay, Binaries(kube=Path("/k"), coredns=Path("/c"), pause=Path("/p")))
    kubelet = (lay.config / "kubelet.yaml").read_text()
    assert "address: 127.0.0.1" in kubelet
    assert "readOnlyPort: 0" in kubelet
    proxy = (lay.config / "kube-proxy.yaml").read_text()
    assert "bindAddress: 127.0.0.1" in proxy
    assert f"- {lay.bridge_address}/32" in proxy


def test_static_volumes_cover_the_dev_claims_from_the_default_class(lay: Layout) -> None:
    objects = addon_objects(lay)
    (storage_class,) = [o for o in objects if o["kind"] == "StorageClass"]
    assert storage_class["metadata"]["name"] == STORAGE_CLASS
    assert (
        storage_class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"]
        == "true"
    )
    volumes = [o for o in objects if o["kind"] == "PersistentVolume"]
    assert len(volumes) >= 2  # the dev Postgres and Kafka claims
    assert all(Path(v["spec"]["local"]["path"]).is_relative_to(lay.root) for v in volumes)


def test_unchanged_configuration_is_not_rewritten(tmp_path: Path) -> None:
    path = write_config(tmp_path / "kube-proxy.yaml", "mode: iptables\n")
    before = path.stat().st_mtime_ns
    write_config(path, "mode: iptables\n")
    assert path.stat().st_mtime_ns == before


def test_down_deletes_only_jumps_into_the_clusters_chains(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dump = "\n".join(
        [
            "*nat",
            ":PREROUTING ACCEPT [0:0]",
            ":KUBE-SERVICES - [0:0]",
            ":NETAVARK-HOSTPORT-DNAT - [0:0]",
            '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
            "-A PREROUTING -j NETAVARK-HOSTPORT-DNAT",
            "COMMIT",
        ]
    )
    calls: list[list[str]] = []

    def fake_run(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, stdout=dump, stderr="")

    monkeypatch.setattr("devstack.cluster.network.subprocess.run", fake_run)
    network._remove_chains("iptables")
    changes = [call for call in calls if call[0] == "iptables"]
    assert changes == [
        [
            "iptables", "-w", "-t", "nat", "-D", "PREROUTING", "-m", "comment", "--comment",
            "kubernetes service portals", "-j", "KUBE-SERVICES",
        ],
        ["iptables", "-w", "-t", "nat", "-F", "KUBE-SERVICES"],
        ["iptables", "-w", "-t", "nat", "-X", "KUBE-SERVICES"],
    ]  # fmt: skip


def test_a_missing_capability_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("devstack.cluster.host.os.geteuid", lambda: 1000)
    assert host.host_problems() == [
        "the cluster needs root (containerd, the kubelet and iptables change the host)."
    ]
