"""The cluster's certificates and kubeconfigs, made with openssl on the first `up`.

One throwaway CA under `.run/k8s/pki/` signs everything: the API server's serving certificate,
a client certificate per component (each component's identity is its certificate's CN and O,
which the Node and RBAC authorizers read), the kubelet's serving certificate, and the client
certificate the API server shows the kubelet for `kubectl logs`/`exec`. Files that exist are
kept, so a second `up` changes nothing and a running cluster keeps trusting its clients.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from devstack.cluster.layout import Layout, write_config

__all__ = ["Identity", "identities", "write_kubeconfig", "write_pki"]


@dataclass(frozen=True)
class Identity:
    """A client certificate's name in pki/ and the user and groups it authenticates as."""

    name: str
    user: str
    groups: tuple[str, ...] = ()


def identities(lay: Layout) -> tuple[Identity, ...]:
    return (
        Identity("admin", "flotilla-admin", ("system:masters",)),
        # Trusted by the kubelet for logs/exec/port-forward (webhook authz sees system:masters).
        Identity("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)),
        Identity("controller-manager", "system:kube-controller-manager"),
        Identity("scheduler", "system:kube-scheduler"),
        Identity("kubelet", f"system:node:{lay.node_name}", ("system:nodes",)),
        Identity("kube-proxy", "system:kube-proxy"),
        # A host process with an RBAC role of its own (devstack.cluster.addons).
        Identity("coredns", "flotilla:coredns"),
    )


def write_pki(lay: Layout) -> None:
    pki = lay.pki
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    if not (pki / "ca.crt").exists():
        _key(pki / "ca.key")
        _openssl(
            "req", "-x509", "-new", "-key", str(pki / "ca.key"), "-subj", "/CN=flotilla-dev-ca",
            "-days", "3650", "-out", str(pki / "ca.crt"),
            "-config", str(_extensions(pki, "ca", "")), "-extensions", "v3_ca",
        )  # fmt: skip
    apiserver_names = [
        "DNS:localhost",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        f"DNS:kubernetes.default.svc.{lay.cluster_domain}",
        "IP:127.0.0.1",
        f"IP:{_first_service_ip(lay)}",
    ]
    _leaf(pki, "apiserver", "/CN=kube-apiserver", "serverAuth", apiserver_names)
    _leaf(
        pki,
        "kubelet-serving",
        f"/CN={lay.node_name}",
        "serverAuth",
        [f"DNS:{lay.node_name}", "DNS:localhost", "IP:127.0.0.1"],
    )
    for identity in identities(lay):
        subject = "".join(f"/O={group}" for group in identity.groups) + f"/CN={identity.user}"
        _leaf(pki, identity.name, subject, "clientAuth", [])
    if not (pki / "service-account.key").exists():
        _key(pki / "service-account.key")
        _openssl(
            "pkey", "-in", str(pki / "service-account.key"), "-pubout",
            "-out", str(pki / "service-account.pub"),
        )  # fmt: skip


def write_kubeconfig(lay: Layout, identity: str, path: Path) -> Path:
    """A kubeconfig for one identity, pointing at files in pki/ (nothing copied)."""
    pki = lay.pki
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "flotilla-dev",
                "cluster": {"server": lay.server, "certificate-authority": str(pki / "ca.crt")},
            }
        ],
        "users": [
            {
                "name": identity,
                "user": {
                    "client-certificate": str(pki / f"{identity}.crt"),
                    "client-key": str(pki / f"{identity}.key"),
                },
            }
        ],
        "contexts": [
            {"name": "flotilla-dev", "context": {"cluster": "flotilla-dev", "user": identity}}
        ],
        "current-context": "flotilla-dev",
    }
    write_config(path, yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def _leaf(pki: Path, name: str, subject: str, usage: str, names: list[str]) -> None:
    if (pki / f"{name}.crt").exists():
        return
    _key(pki / f"{name}.key")
    csr = pki / f"{name}.csr"
    _openssl("req", "-new", "-key", str(pki / f"{name}.key"), "-subj", subject, "-out", str(csr))
    alt = f"subjectAltName = {', '.join(names)}\n" if names else ""
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
        "-set_serial", str(secrets.randbits(63)), "-days", "825", "-out", str(pki / f"{name}.crt"),
        "-extfile", str(_extensions(pki, name, alt + f"extendedKeyUsage = {usage}\n")),
        "-extensions", "v3_leaf",
    )  # fmt: skip
    csr.unlink()


def _extensions(pki: Path, name: str, leaf: str) -> Path:
    path = pki / f".{name}.ext"
    path.write_text(
        "[req]\ndistinguished_name = dn\n[dn]\n"
        "[v3_ca]\nbasicConstraints = critical, CA:TRUE\n"
        "keyUsage = critical, keyCertSign, cRLSign, digitalSignature\n"
        "subjectKeyIdentifier = hash\n"
        "[v3_leaf]\nbasicConstraints = CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n" + leaf
    )
    return path


def _key(path: Path) -> None:
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)
    )
    path.chmod(0o600)


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _first_service_ip(lay: Layout) -> str:
    """The `kubernetes` Service's ClusterIP: the service range's first host address."""
    network = lay.service_cidr.split("/")[0].split(".")
    return ".".join([*network[:3], str(int(network[3]) + 1)])
