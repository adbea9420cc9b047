"""NetworkPolicy enforcement: SIG Network's kube-network-policies as a host process.

The bridge CNI enforces nothing. kube-network-policies (v0.8.0) sends the first packet of each
new connection through an NFQUEUE to user space and answers accept or drop from the policies it
watches; later packets pass on conntrack state. It hooks the IPv4 forward path, which bridged
pod-to-pod traffic traverses here (br_netfilter). Never kube-router: security flaws are reported
for v2.1.0.

It only knows the in-cluster configuration (`rest.InClusterConfig`: the
`KUBERNETES_SERVICE_*` variables and a token and CA under /var/run/secrets/...), so it runs in a
private mount namespace with a tmpfs over /run holding a ServiceAccount token: the host's /run
is never touched. It removes its nftables table itself when stopped (SIGTERM).

It needs the kernel's nftables `queue` expression (CONFIG_NFT_QUEUE). Some kernels have only
the xtables NFQUEUE target; there `nft_queue_problem` says so, `up` says that policies are not
enforced on this host, and the controller is not started (it would run without effect).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from devstack.cluster.binaries import Binaries
from devstack.cluster.control_plane import Component
from devstack.cluster.layout import Layout
from devstack.process import port_open

__all__ = ["NFT_TABLE", "SERVICE_ACCOUNT", "network_policies", "nft_queue_problem"]

SERVICE_ACCOUNT = "flotilla-network-policies"
NFT_TABLE = "kube-network-policies"
_SECRETS = "/run/secrets/kubernetes.io/serviceaccount"


def network_policies(lay: Layout, binaries: Binaries, program: Path) -> Component:
    folder = lay.config / "network-policies"
    folder.mkdir(parents=True, exist_ok=True)
    token = folder / "token"
    if not token.exists():
        token.write_text(_token(lay, binaries))
        token.chmod(0o600)
    argv = [
        str(program),
        f"--hostname-override={lay.node_name}",
        f"--metrics-bind-address=127.0.0.1:{lay.network_policies_metrics_port}",
        "--disable-nri",
        "--v=2",
    ]
    script = " && ".join(
        [
            "mount -t tmpfs -o size=1m,mode=0755 flotilla-run /run",
            f"mkdir -p {_SECRETS}",
            f"cp {shlex.quote(str(token))} {_SECRETS}/token",
            f"cp {shlex.quote(str(lay.pki / 'ca.crt'))} {_SECRETS}/ca.crt",
            "exec " + shlex.join(argv),
        ]
    )
    return Component(
        "network-policies",
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        lambda: port_open("127.0.0.1", lay.network_policies_metrics_port),
        env={
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(lay.apiserver_port),
        },
    )


def nft_queue_problem() -> str | None:
    """Why the policy controller cannot work here, or None: a throwaway table tries the one
    rule shape it depends on (a set lookup sending packets to an NFQUEUE) and is removed."""
    if shutil.which("nft") is None:
        return "`nft` is missing (install nftables)"
    probe = ["nft", "-f", "-"]
    rules = (
        "table inet flotilla-queue-probe {\n"
        "  set ips { type ipv4_addr; }\n"
        "  chain post { type filter hook postrouting priority srcnat - 5; policy accept;\n"
        "    ip saddr @ips queue num 100 bypass\n  }\n}\n"
    )
    result = subprocess.run(probe, input=rules, capture_output=True, text=True, check=False)
    subprocess.run(
        ["nft", "delete", "table", "inet", "flotilla-queue-probe"], capture_output=True, check=False
    )
    if result.returncode == 0:
        return None
    return (
        "this kernel cannot send packets from nftables to user space (no nftables `queue` "
        f"expression, CONFIG_NFT_QUEUE; `nft` says: {result.stderr.strip().splitlines()[0]}), "
        "which kube-network-policies needs"
    )


def _token(lay: Layout, binaries: Binaries) -> str:
    result = subprocess.run(
        [
            str(binaries.kubectl), "--kubeconfig", str(lay.kubeconfig), "create", "token",
            SERVICE_ACCOUNT, "-n", "kube-system", "--duration", "8760h",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"no token for {SERVICE_ACCOUNT}: {result.stderr.strip()}")
    return result.stdout.strip()
