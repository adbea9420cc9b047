"""What the host must offer before anything starts, each missing piece as one sentence.

`up` refuses early and clearly (not root, no iptables, cgroup controllers missing, bridged
traffic not visible to iptables, a Debian package absent) instead of failing ten minutes into a
build or leaving half a cluster behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["PACKAGES", "host_problems"]

# Debian packages the cluster runs (the Makefile's k8s-up installs them).
PACKAGES = (
    "etcd-server",
    "containerd",
    "runc",
    "containernetworking-plugins",
    "conntrack",
    "iptables",
    "iproute2",
    "gcc",
    "libc6-dev",
    "openssl",
    "busybox-static",
    "nftables",
)

_COMMANDS = {
    "etcd": "etcd-server",
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "conntrack": "conntrack",
    "iptables": "iptables",
    "ip6tables": "iptables",
    "ip": "iproute2",
    "gcc": "gcc",
    "openssl": "openssl",
    "go": "Go (golang)",
    "nft": "nftables",
    "unshare": "util-linux",
}

_CGROUP_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "devices", "freezer")


def host_problems() -> list[str]:
    """Every reason this host cannot run the cluster; empty when it can."""
    if os.geteuid() != 0:
        return ["the cluster needs root (containerd, the kubelet and iptables change the host)."]
    problems = [
        f"`{command}` is missing: install {package} (`make k8s-up` installs the Debian ones)."
        for command, package in _COMMANDS.items()
        if shutil.which(command) is None
    ]
    if not Path("/usr/lib/cni/bridge").exists():
        problems.append("the CNI bridge plugin is missing: install containernetworking-plugins.")
    if not Path("/bin/busybox").exists():
        problems.append("/bin/busybox is missing: install busybox-static (the smoke image).")
    problems += _cgroup_problems()
    bridged = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    if not bridged.exists() or bridged.read_text().strip() != "1":
        problems.append(
            "bridged traffic bypasses iptables (net.bridge.bridge-nf-call-iptables is not 1; "
            "load br_netfilter), so Service IPs could not work between pods."
        )
    if shutil.which("iptables") and (
        subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True).returncode
    ):
        problems.append("iptables cannot read the filter table here (no netfilter support).")
    return problems


def _cgroup_problems() -> list[str]:
    try:
        lines = Path("/proc/cgroups").read_text().splitlines()[1:]
    except FileNotFoundError:
        return ["/proc/cgroups is missing: the kernel has no cgroups for the pods."]
    enabled = {fields[0] for fields in (line.split() for line in lines) if fields[-1] == "1"}
    missing = [name for name in _CGROUP_CONTROLLERS if name not in enabled]
    if missing:
        return [f"cgroup controllers {', '.join(missing)} are not enabled: pods cannot be limited."]
    return []
