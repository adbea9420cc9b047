"""What `down` must remove beyond its own host processes: pod processes, containerd shims,
mounts and the kubelet's cgroups.

Pod processes are children of containerd-shim processes that containerd starts detached (they
survive containerd by design), so stopping containerd's process group is not enough. They are
found by what marks them as ours: a shim's `-address` is our containerd socket, a pod
process lives in the kubelet's `kubepods` cgroup. Mounts are found by path (everything under
`.run/k8s/`), deepest first.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from devstack.cluster.layout import Layout

__all__ = [
    "kill_pods",
    "leftover_processes",
    "our_mounts",
    "remove_cgroups",
    "remove_state",
    "unmount_all",
]

_CGROUP_ROOT = Path("/sys/fs/cgroup")
_POD_CGROUP = "kubepods"


def kill_pods(lay: Layout) -> None:
    """SIGKILL every pod process and every shim of our containerd, then wait for them."""
    for _ in range(3):
        victims = leftover_processes(lay)
        if not victims:
            return
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_exists(pid) for pid in victims):
            time.sleep(0.1)


def leftover_processes(lay: Layout) -> list[int]:
    """Pids of the shims serving our containerd socket and of everything below them (the
    shim is the pods' parent and subreaper), plus — only while no kubelet runs (`down` stops
    ours first, so one still running is not ours) — anything left in the `kubepods` cgroup."""
    socket = str(lay.containerd_socket).encode()
    parents: dict[int, int] = {}
    shims: set[int] = set()
    in_pod_cgroup: set[int] = set()
    kubelet_running = False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
            cgroups = (entry / "cgroup").read_text()
        except OSError:
            continue
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        program = cmdline[0] if cmdline else b""
        if program.endswith(b"containerd-shim-runc-v2") and socket in cmdline:
            shims.add(pid)
        kubelet_running |= program.endswith(b"kubelet")
        if _in_pod_cgroup(cgroups):
            in_pod_cgroup.add(pid)
    found = set(shims)
    grew = True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in found} - found
        found |= below
        grew = bool(below)
    if not kubelet_running:
        found |= in_pod_cgroup
    return sorted(found)


def our_mounts(lay: Layout) -> list[str]:
    root = str(lay.root.resolve())
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == root or point.startswith(root + "/"):
            mounts.append(point)
    return mounts


def unmount_all(lay: Layout) -> list[str]:
    """Unmount everything under the cluster's folder; returns what would not go."""
    for _ in range(3):
        points = sorted(set(our_mounts(lay)), key=lambda p: p.count("/"), reverse=True)
        if not points:
            return []
        for point in points:
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)
    return our_mounts(lay)


def remove_cgroups() -> None:
    """The kubelet's `kubepods` tree in every v1 hierarchy (v2: the unified one); only empty
    folders go (rmdir), so a tree still in use is left alone."""
    if not _CGROUP_ROOT.is_dir():
        return
    roots = [_CGROUP_ROOT / _POD_CGROUP] + [
        hierarchy / _POD_CGROUP for hierarchy in _CGROUP_ROOT.iterdir() if hierarchy.is_dir()
    ]
    for root in roots:
        if not root.is_dir():
            continue
        folders = sorted(
            (path for path, _, _ in os.walk(root)), key=lambda p: p.count("/"), reverse=True
        )
        for folder in folders:
            try:
                os.rmdir(folder)
            except OSError:
                continue


def remove_state(lay: Layout) -> None:
    """Runtime leftovers whose content is stale after a stop (IPAM leases, pid files)."""
    shutil.rmtree(lay.cni_state_dir, ignore_errors=True)


def _in_pod_cgroup(cgroups: str) -> bool:
    return any(
        line.split(":", 2)[-1].startswith(f"/{_POD_CGROUP}") for line in cgroups.splitlines()
    )


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
