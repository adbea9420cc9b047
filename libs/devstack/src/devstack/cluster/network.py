"""The cluster's network on the host: a bridge for the pods, routes and filters that keep every
cluster packet on this machine, and the clean-up that removes all of it.

Pods sit on one Linux bridge with addresses from the node's /24 and routes to the cluster's own
ranges only (no default route, no IP masquerade): a pod has no way out. On the host, blackhole
routes for the pod and service ranges drop a packet that kube-proxy has not translated (yet)
instead of letting it follow the default route out, and a FORWARD guard drops anything routed
between the bridge and any other interface. `down` removes the bridge and veths, the pod network
namespaces, every KUBE-*/CNI-*/FLOTILLA-* iptables chain and the jumps to them, the policy
controller's nftables tables, the routes, and
puts `net.ipv4.ip_forward` back as it found it.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

from devstack.cluster.layout import Layout, write_config

__all__ = ["cni_config", "remove_network", "set_up_network"]

_GUARD = "FLOTILLA-K8S-FORWARD"
_OUR_CHAINS = ("KUBE-", "CNI-", "FLOTILLA-K8S-")
_IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
# Sysctls that `up` (forwarding) or the kubelet (its kernel tunables) may change; `down` writes
# back what the host had.
_SYSCTLS = (
    "net/ipv4/ip_forward",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)


def cni_config(lay: Layout) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "flotilla",
        "plugins": [
            {
                "type": "bridge",
                "bridge": lay.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(lay.cni_state_dir),
                    "ranges": [[{"subnet": lay.node_pod_cidr, "gateway": lay.bridge_address}]],
                    # The cluster's ranges only: no default route out of a pod.
                    "routes": [{"dst": lay.pod_cidr}, {"dst": lay.service_cidr}],
                },
            },
            {"type": "loopback"},
        ],
    }


def set_up_network(lay: Layout) -> None:
    _remember_host_state(lay)
    lay.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    write_config(lay.cni_conf_dir / "10-flotilla.conflist", json.dumps(cni_config(lay), indent=2))
    if not _run("ip", "link", "show", lay.bridge, check=False):
        _run("ip", "link", "add", lay.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{lay.bridge_address}/24", "dev", lay.bridge)
    _run("ip", "link", "set", lay.bridge, "up")
    for cidr in (lay.pod_cidr, lay.service_cidr):
        _run("ip", "route", "replace", "blackhole", cidr)
    # Pod -> Service -> pod is routed through the host (DNAT in PREROUTING), so forwarding
    # must be on; the guard confines it to the bridge.
    _IP_FORWARD.write_text("1\n")
    if not _run("iptables", "-w", "-n", "-L", _GUARD, check=False):
        _run("iptables", "-w", "-N", _GUARD)
        _run("iptables", "-w", "-A", _GUARD, "-i", lay.bridge, "-o", lay.bridge, "-j", "RETURN")
        _run("iptables", "-w", "-A", _GUARD, "-i", lay.bridge, "-j", "DROP")
        _run("iptables", "-w", "-A", _GUARD, "-o", lay.bridge, "-j", "DROP")
    if not _run("iptables", "-w", "-C", "FORWARD", "-j", _GUARD, check=False):
        _run("iptables", "-w", "-I", "FORWARD", "1", "-j", _GUARD)


def remove_network(lay: Layout) -> None:
    """Remove everything `set_up_network`, the CNI plugin, kube-proxy and the kubelet made."""
    _remove_pod_namespaces(lay)
    for veth in _bridge_ports(lay.bridge):
        _run("ip", "link", "del", veth, check=False)
    _run("ip", "link", "del", lay.bridge, check=False)
    for cidr in (lay.pod_cidr, lay.service_cidr):
        _run("ip", "route", "del", "blackhole", cidr, check=False)
    for tool in ("iptables", "ip6tables"):
        _remove_chains(tool)
    # kube-network-policies removes its tables when stopped; these are for a crashed one.
    for table in ("kube-network-policies", "kube-network-policies-dnscache"):
        _run("nft", "delete", "table", "inet", table, check=False)
    state = _read_host_state(lay)
    for name, value in state.get("sysctls", {}).items():
        path = Path("/proc/sys") / name
        if path.exists() and path.read_text().strip() != value:
            path.write_text(value + "\n")
    _remove_empty_tables(set(state.get("nft_tables", _nft_tables())))
    lay.host_state.unlink(missing_ok=True)


def _remember_host_state(lay: Layout) -> None:
    """Written once per `up` cycle, before the first change, so a second `up` (forwarding
    already on) does not overwrite what the host had."""
    if not lay.host_state.exists():
        lay.host_state.parent.mkdir(parents=True, exist_ok=True)
        sysctls = {
            name: (Path("/proc/sys") / name).read_text().strip()
            for name in _SYSCTLS
            if (Path("/proc/sys") / name).exists()
        }
        state = {"sysctls": sysctls, "nft_tables": sorted(_nft_tables())}
        lay.host_state.write_text(json.dumps(state, indent=1))


def _read_host_state(lay: Layout) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(lay.host_state.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data


def _nft_tables() -> list[str]:
    """`family name` of every nftables table (iptables-nft keeps its tables there too)."""
    result = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    return [line.removeprefix("table ").strip() for line in result.stdout.splitlines()]


def _remove_empty_tables(before: set[str]) -> None:
    """Tables that iptables-nft created for kube-proxy and the kubelet stay behind empty once
    their rules are gone; remove those that did not exist before `up` and hold no rule (a
    table another tool has put rules into since is left alone)."""
    for table in _nft_tables():
        if table in before:
            continue
        listing = subprocess.run(
            ["nft", "list", "table", *table.split()], capture_output=True, text=True
        ).stdout
        body = [line.strip() for line in listing.splitlines()[1:]]
        if all(not line or line.startswith(("chain ", "type ", "}")) for line in body):
            _run("nft", "delete", "table", *table.split(), check=False)


def _remove_pod_namespaces(lay: Layout) -> None:
    """containerd keeps pod namespaces as bind mounts under its state folder
    (`netns_mounts_under_state_dir`); unmounting the last reference destroys the namespace and
    with it the pod's end of each veth pair."""
    folder = lay.containerd_state / "io.containerd.grpc.v1.cri" / "netns"
    if not folder.is_dir():
        return
    for netns in folder.iterdir():
        _run("umount", str(netns), check=False)
        with contextlib.suppress(OSError):
            netns.unlink()


def _bridge_ports(bridge: str) -> list[str]:
    result = subprocess.run(
        ["ip", "-j", "link", "show", "master", bridge], capture_output=True, text=True
    )
    if result.returncode != 0 or not result.stdout.strip():
        return []
    return [str(link["ifname"]) for link in json.loads(result.stdout)]


def _remove_chains(tool: str) -> None:
    """Delete the jumps into our chains from every other chain, then flush and delete ours.
    Rules are deleted one by one (never a table restore) so rules of other tools that change
    the tables meanwhile (podman's netavark) are left alone."""
    dump = subprocess.run([f"{tool}-save"], capture_output=True, text=True, check=False).stdout
    table = ""
    ours: dict[str, list[str]] = {}
    jumps: list[tuple[str, list[str]]] = []
    for line in dump.splitlines():
        if line.startswith("*"):
            table = line[1:]
            ours.setdefault(table, [])
        elif line.startswith(":") and line[1:].startswith(_OUR_CHAINS):
            ours[table].append(line[1:].split()[0])
        elif line.startswith("-A "):
            chain, *rule = shlex.split(line[3:])
            if not chain.startswith(_OUR_CHAINS) and any(
                target.startswith(_OUR_CHAINS) for target in rule
            ):
                jumps.append((table, [chain, *rule]))
    for table, rule in jumps:
        _run(tool, "-w", "-t", table, "-D", *rule, check=False)
    for table, chains in ours.items():
        for chain in chains:
            _run(tool, "-w", "-t", table, "-F", chain, check=False)
        for chain in chains:
            _run(tool, "-w", "-t", table, "-X", chain, check=False)


def _run(*argv: str, check: bool = True) -> bool:
    result = subprocess.run(list(argv), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.returncode == 0
