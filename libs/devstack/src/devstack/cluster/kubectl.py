"""kubectl against the dev cluster, for tests and scripts: the cached binary, the admin
kubeconfig, YAML in and JSON out."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from devstack.cluster.control_plane import api_ready
from devstack.cluster.layout import KUBERNETES_VERSION, Layout
from devstack.toolchain import CacheEntry

__all__ = ["Kubectl", "running_cluster"]


@dataclass(frozen=True)
class Kubectl:
    lay: Layout
    binary: str

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, "--kubeconfig", str(self.lay.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def apply(self, objects: Sequence[dict[str, Any]], *, check: bool = True) -> str:
        result = self.run("apply", "-f", "-", stdin=yaml.safe_dump_all(objects), check=check)
        return result.stdout + result.stderr

    def json(self, *args: str) -> Any:
        return json.loads(self.run("get", *args, "-o", "json").stdout)


def running_cluster(lay: Layout) -> Kubectl | None:
    """A kubectl for the cluster when one answers here, else None (without building)."""
    binary = CacheEntry("tools", "kubernetes", KUBERNETES_VERSION).path / "bin" / "kubectl"
    if not lay.kubeconfig.exists() or not binary.exists() or not api_ready(lay):
        return None
    return Kubectl(lay, str(binary))
