"""`python -m devstack.cluster {up,down,status,kubeconfig}` (`make k8s-up` / `make k8s-down`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from devstack.cluster.cluster import ClusterError, down, status, up
from devstack.cluster.images import import_archive
from devstack.cluster.layout import layout
from devstack.cluster.netpol import nft_queue_problem

__all__ = ["main"]

_DESCRIPTION = """\
A single-node Kubernetes cluster on this machine, state under .run/k8s/, binaries built once
into ${FLOTILLA_CACHE:-~/.cache/flotilla}.

up          build what is missing (cold: ~20 min on 2 cores; warm: seconds), start every
            component, wait for the node to be Ready; safe to run again.
down        stop every process (pods and shims too), remove mounts, bridge, veths, network
            namespaces, iptables chains, routes and cgroups; data in .run/k8s is kept.
status      one line per host process; exits 0 when all run, 3 otherwise (the policy
            controller counts only where the kernel can run it).
kubeconfig  print the admin kubeconfig's path (export KUBECONFIG=$(... kubeconfig)).
load A...   import image archives (`podman save` output, docker or OCI format) into the
            cluster's containerd, under the names they were saved with. Pods see them with
            `imagePullPolicy: Never` or IfNotPresent; name them fully (localhost/x:tag, as
            podman does), since an unqualified `x:tag` in a pod spec means docker.io/x:tag.
"""


def _say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.cluster",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "down", "status", "kubeconfig", "load"])
    parser.add_argument("archives", nargs="*", type=Path, help="for `load`: image archives")
    args = parser.parse_args(argv)
    lay = layout()
    try:
        if args.command == "up":
            up(lay, _say)
            print(lay.kubeconfig)
        elif args.command == "down":
            down(lay, _say)
        elif args.command == "status":
            running = status(lay)
            unused = nft_queue_problem()
            if unused is not None:
                # Not started on a kernel that cannot run it (see devstack.cluster.netpol).
                del running["network-policies"]
            for name, alive in running.items():
                print(f"{name:<24} {'running' if alive else 'stopped'}")
            if unused is not None:
                print(f"{'network-policies':<24} not used: {unused}")
            return 0 if all(running.values()) else 3
        elif args.command == "load":
            if not status(lay)["containerd"]:
                raise ClusterError("containerd is not running: `make k8s-up` first")
            for archive in args.archives:
                import_archive(lay, archive)
                _say(f"loaded {archive}")
        else:
            print(lay.kubeconfig)
    except (ClusterError, RuntimeError) as error:
        print(f"k8s {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
