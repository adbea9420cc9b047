"""The cluster's programs: built from the Go module proxy (and pause from C) once per machine.

Kubernetes' own commands come from `deploy/cluster/k8s-tools/`, a wrapper module that requires
`k8s.io/kubernetes` and points its staging modules at their published releases (the upstream
go.mod replaces them with local folders, which rules out `go install`). The version is stamped
with -ldflags: unstamped, /version says `v0.0.0-master` and helm's kubeVersion checks fail.
CoreDNS and kube-network-policies are plain `go install`s. Everything lands in the shared cache
(`devstack.toolchain`: `<cache>/tools/<name>-<version>/`), never in the clone; each build says
when it starts, roughly how long it takes, and beats while it runs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.cluster.layout import KUBERNETES_VERSION
from devstack.profiles import REPO_ROOT
from devstack.toolchain import CacheEntry, build_once, go_env, run_step

__all__ = [
    "COREDNS_VERSION",
    "KUBE_COMMANDS",
    "NETWORK_POLICIES_VERSION",
    "Binaries",
    "build_binaries",
    "network_policies_binary",
]

COREDNS_VERSION = "v1.15.0"
# SIG Network's policy controller (never kube-router v2.1.0: security flaws are reported).
NETWORK_POLICIES_VERSION = "v0.8.0"
PAUSE_VERSION = "3.10.2"

WRAPPER = REPO_ROOT / "deploy" / "cluster" / "k8s-tools"

# Command, and roughly how long a cold build took on a busy 2-core machine (measured
# 2026-12-04; with Go's build cache warm each is a relink of 20-60 s).
KUBE_COMMANDS: dict[str, str] = {
    "kube-apiserver": "~15 min",
    "kube-controller-manager": "~5 min",
    "kubelet": "~2 min",
    "kube-scheduler": "~1 min",
    "kube-proxy": "~1 min",
    "kubectl": "~1 min",
}

_GO_BUILD_FLAGS = ["-trimpath"]


def _kube_ldflags() -> str:
    minor = KUBERNETES_VERSION.split(".")[1]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={KUBERNETES_VERSION}",
            f"-X {package}.gitMajor=1",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


@dataclass(frozen=True)
class Binaries:
    kube: Path
    coredns: Path
    pause: Path

    def kube_command(self, name: str) -> Path:
        return self.kube / "bin" / name

    @property
    def kubectl(self) -> Path:
        return self.kube_command("kubectl")


def build_binaries() -> Binaries:
    """Every program the cluster runs, from the cache or built now (nice'd: the cores are
    shared)."""
    return Binaries(
        kube=_kubernetes(),
        coredns=_go_install("coredns", "github.com/coredns/coredns", COREDNS_VERSION, "~5 min"),
        pause=_pause(),
    )


def network_policies_binary() -> Path:
    """Built only where the kernel can run it (see `devstack.cluster.netpol`)."""
    return _go_install(
        "kube-network-policies",
        "sigs.k8s.io/kube-network-policies/cmd",
        NETWORK_POLICIES_VERSION,
        "~6 min",
    )


def _kubernetes() -> Path:
    files = [WRAPPER / name for name in ("go.mod", "go.sum", "tools.go")]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.read_bytes())
    digest.update(_kube_ldflags().encode())
    digest.update(json.dumps(sorted(KUBE_COMMANDS)).encode())

    def build(tmp: Path) -> None:
        module = tmp / "module"
        module.mkdir()
        for file in files:
            shutil.copy(file, module / file.name)
        for command, duration in KUBE_COMMANDS.items():
            run_step(
                [
                    "nice", "-n", "10", "go", "build", "-mod=mod", *_GO_BUILD_FLAGS,
                    "-ldflags", _kube_ldflags(),
                    "-o", str(tmp / "bin" / command), f"k8s.io/kubernetes/cmd/{command}",
                ],
                what=f"building {command} {KUBERNETES_VERSION}",
                estimate=f"cold {duration}; a relink <1 min",
                env=go_env(),
                cwd=module,
            )  # fmt: skip
        shutil.rmtree(module)

    entry = CacheEntry("tools", "kubernetes", KUBERNETES_VERSION).path
    return build_once(entry, digest.hexdigest(), build)


def _go_install(name: str, package: str, version: str, duration: str) -> Path:
    """A static (CGO off) build of one command, as `<entry>/bin/<name>`."""
    fingerprint = f"{package}@{version} {' '.join(_GO_BUILD_FLAGS)} cgo=0"

    def build(tmp: Path) -> None:
        env = go_env(tmp / "gobin")
        env["CGO_ENABLED"] = "0"
        run_step(
            [
                "nice", "-n", "10", "go", "install", *_GO_BUILD_FLAGS, "-ldflags", "-s -w",
                f"{package}@{version}",
            ],
            what=f"building {name} {version}",
            estimate=f"cold {duration}; a relink <1 min",
            env=env,
            cwd=tmp,
        )  # fmt: skip
        (tmp / "bin").mkdir()
        (built,) = (tmp / "gobin").iterdir()
        built.rename(tmp / "bin" / name)
        (tmp / "gobin").rmdir()

    return build_once(CacheEntry("tools", name, version).path, fingerprint, build) / "bin" / name


def _pause() -> Path:
    """The sandbox's pause process: no registry can be pulled from here, so it is compiled
    from the pause.c that ships in the kubernetes module (as upstream's image is)."""
    source = _kubernetes_module_dir() / "build" / "pause" / "linux" / "pause.c"
    fingerprint = hashlib.sha256(source.read_bytes()).hexdigest() + f" {PAUSE_VERSION}"

    def build(tmp: Path) -> None:
        run_step(
            [
                "gcc", "-Os", "-Wall", "-Werror", "-static",
                f"-DVERSION=v{PAUSE_VERSION}-flotilla", "-o", str(tmp / "pause"), str(source),
            ],
            what=f"compiling pause {PAUSE_VERSION} with gcc -static",
            estimate="seconds",
        )  # fmt: skip

    entry = CacheEntry("tools", "pause", PAUSE_VERSION).path
    return build_once(entry, fingerprint, build) / "pause"


def _kubernetes_module_dir() -> Path:
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"],
        env=go_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(json.loads(result.stdout)["Dir"])
