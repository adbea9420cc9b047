"""podman on this host: the settings every call needs, and the few queries `devstack.images`
and the tests make.

There is no Docker engine here, and two host limits break podman's defaults (cgroups v1 in
hybrid mode, which crun refuses; an open-files hard limit root cannot raise), so every call
runs with `CONTAINERS_CONF` pointing at `deploy/images/containers.conf` (runc, cgroupfs,
ulimits this host allows). The packages come from `devstack.toolchain` (`ensure --for images`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from devstack.process import ProcessError
from devstack.profiles import REPO_ROOT

__all__ = ["CONTAINERS_CONF", "image_exists", "image_size", "podman", "podman_env"]

CONTAINERS_CONF = REPO_ROOT / "deploy" / "images" / "containers.conf"


def podman_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF), **(extra or {})}


def podman(*args: str) -> str:
    """A short podman command; its stdout. Raises ProcessError with its stderr on failure."""
    try:
        result = subprocess.run(
            ["podman", *args], capture_output=True, text=True, check=False, env=podman_env()
        )
    except FileNotFoundError:
        raise ProcessError("podman is not installed: `make images` installs it") from None
    if result.returncode != 0:
        raise ProcessError(f"podman {' '.join(args)} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def image_exists(ref: str) -> bool:
    result = subprocess.run(
        ["podman", "image", "exists", ref], capture_output=True, check=False, env=podman_env()
    )
    return result.returncode == 0


def image_size(ref: str) -> int:
    """Bytes of the image's layers, uncompressed (what `podman images` shows)."""
    return int(podman("image", "inspect", "--format", "{{.Size}}", ref).strip())
