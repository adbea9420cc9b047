"""`up`, `down` and `status` of the dev cluster, in the order the pieces depend on each other.

up:   host checks -> binaries (cache) -> certificates -> host network -> etcd -> API server ->
      controller-manager -> scheduler -> containerd (+ pause and smoke images) -> kubelet ->
      kube-proxy -> CoreDNS -> add-ons -> NetworkPolicy controller -> node Ready. Every step is
      a no-op when already done, so a second `up` only confirms the node is Ready.
down: the node's processes, then every pod process and shim, containerd, the control plane,
      then mounts, network and cgroups; finally it checks that nothing of ours is left and
      says what is (non-zero exit) rather than claiming a clean host.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from devstack.cluster.addons import addon_objects, apply
from devstack.cluster.binaries import Binaries, build_binaries, network_policies_binary
from devstack.cluster.certs import write_kubeconfig, write_pki
from devstack.cluster.cleanup import (
    kill_pods,
    leftover_processes,
    remove_cgroups,
    remove_state,
    unmount_all,
)
from devstack.cluster.control_plane import Component, control_plane
from devstack.cluster.host import host_problems
from devstack.cluster.images import (
    BUSYBOX_IMAGE,
    PAUSE_IMAGE,
    StaticImage,
    import_archive,
    write_archive,
)
from devstack.cluster.layout import Layout
from devstack.cluster.netpol import network_policies, nft_queue_problem
from devstack.cluster.network import remove_network, set_up_network
from devstack.cluster.node import containerd, node_components
from devstack.process import ManagedProcess, port_open

__all__ = ["ClusterError", "Progress", "down", "status", "up"]

Progress = Callable[[str], None]

# Stopped in this order by `down` (the reverse of start, network policies first).
_PROCESSES = (
    "network-policies",
    "coredns",
    "kube-proxy",
    "kubelet",
    "containerd",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
    "etcd",
)


class ClusterError(RuntimeError):
    """A step failed; the message names it and carries the component's last log lines."""


def up(lay: Layout, progress: Progress) -> None:
    problems = host_problems()
    if problems:
        raise ClusterError(" ".join(problems))
    _refuse_a_foreign_cluster(lay)
    started = time.monotonic()
    binaries = build_binaries()
    write_pki(lay)
    write_kubeconfig(lay, "admin", lay.kubeconfig)
    set_up_network(lay)
    for component in control_plane(lay, binaries):
        _start(lay, component, progress)
    _start(lay, containerd(lay), progress)
    _import_images(lay, binaries, progress)
    for component in node_components(lay, binaries):
        _start(lay, component, progress)
    apply(lay, str(binaries.kubectl), addon_objects(lay))
    problem = nft_queue_problem()
    if problem is None:
        program = network_policies_binary()
        _start(lay, network_policies(lay, binaries, program), progress)
    else:
        progress(f"NetworkPolicies are NOT enforced on this host: {problem}")
    _wait_node_ready(lay, binaries, progress)
    progress(f"cluster ready in {time.monotonic() - started:.0f} s; kubeconfig: {lay.kubeconfig}")


def down(lay: Layout, progress: Progress) -> None:
    for name in _PROCESSES:
        process = _process(lay, name)
        if process.is_running():
            progress(f"stopping {name}")
        process.stop()
        if name == "kubelet":
            # Pods outlive the kubelet and containerd (their shims run detached).
            kill_pods(lay)
    kill_pods(lay)
    stuck = unmount_all(lay)
    owned_network = lay.host_state.exists()
    if owned_network:
        # Only a checkout whose `up` changed the host undoes it: the bridge, the routes and
        # the KUBE-* chains are machine-wide, and another checkout's cluster may own them.
        remove_network(lay)
    remove_cgroups()
    remove_state(lay)
    left = leftover_processes(lay)
    if stuck or left:
        raise ClusterError(f"down left mounts {stuck} and processes {left} behind")
    if owned_network:
        progress("cluster stopped: no process, mount, bridge, namespace, route or rule left")
    else:
        progress("cluster stopped (this checkout had not set up the host network: left alone)")


def status(lay: Layout) -> dict[str, bool]:
    return {name: _process(lay, name).is_running() for name in _PROCESSES}


def _refuse_a_foreign_cluster(lay: Layout) -> None:
    """One cluster per machine: its ports, bridge and address ranges are fixed."""
    for name, port in (("kube-apiserver", lay.apiserver_port), ("etcd", lay.etcd_client_port)):
        if port_open("127.0.0.1", port) and not _process(lay, name).is_running():
            raise ClusterError(
                f"port {port} is taken by something this checkout did not start (another "
                "checkout's cluster?); stop it there (`make k8s-down`) first."
            )


def _process(lay: Layout, name: str) -> ManagedProcess:
    return ManagedProcess(name, lay.pids / f"{name}.pid", lay.logs / f"{name}.log")


def _start(lay: Layout, component: Component, progress: Progress) -> None:
    process = component.process(lay)
    if process.is_running() and component.ready():
        return
    progress(f"starting {component.name}")
    process.start(component.argv, env={**os.environ, **component.env})
    failure = process.wait_until(component.ready, component.timeout)
    if failure:
        raise ClusterError(f"{component.name} did not start: {failure}")


def _import_images(lay: Layout, binaries: Binaries, progress: Progress) -> None:
    listed = subprocess.run(
        ["ctr", "--address", str(lay.containerd_socket), "-n", "k8s.io", "images", "ls", "-q"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    images = (
        StaticImage(PAUSE_IMAGE, {"/pause": binaries.pause}, ["/pause"]),
        StaticImage(BUSYBOX_IMAGE, {"/bin/busybox": Path("/bin/busybox")}, ["/bin/busybox"]),
    )
    for image in images:
        if image.name not in listed:
            progress(f"importing {image.name}")
            archive = lay.root / "images" / (image.name.replace("/", "_") + ".tar")
            import_archive(lay, write_archive(image, archive))


def _wait_node_ready(lay: Layout, binaries: Binaries, progress: Progress) -> None:
    kubectl = [str(binaries.kubectl), "--kubeconfig", str(lay.kubeconfig)]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        result = subprocess.run(
            [*kubectl, "wait", f"node/{lay.node_name}", "--for=condition=Ready", "--timeout=15s"],
            capture_output=True,
            text=True,
        )
        if result.returncode == 0:
            progress(f"node {lay.node_name} Ready")
            return
        progress(f"  ... waiting for node {lay.node_name} to be Ready")
        time.sleep(2)
    raise ClusterError(
        f"node {lay.node_name} not Ready within 120 s:\n{_process(lay, 'kubelet').log_tail()}"
    )
