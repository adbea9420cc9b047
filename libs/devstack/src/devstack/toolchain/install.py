"""Installing what a target needs: Debian packages with apt, Go tools built and npm packages
installed into the cache.

Each install is a step with progress (`devstack.toolchain.progress`), and a no-op when the tool is
already there, so every make target can call it first at the cost of a few stat calls.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from devstack.toolchain.cache import build_once, cache_root, go_env
from devstack.toolchain.catalog import (
    CACHED_TOOLS,
    GATEWAY_API_VERSION,
    PROMETHEUS_OPERATOR_VERSION,
    SKAFFOLD_SCHEMA,
    SKAFFOLD_VERSION,
    SYSTEM_TOOLS,
    CachedTool,
)
from devstack.toolchain.docs_assets import fetch_docs_assets
from devstack.toolchain.progress import StepFailed, announce, run_step

__all__ = ["InstallError", "ensure"]


class InstallError(RuntimeError):
    """A tool could not be installed; the message says which and what to do."""


def ensure(names: list[str]) -> None:
    """Install every tool of `names` that is missing: apt packages first, then Go builds."""
    packages = sorted(
        {
            tool.package
            for name in names
            if (tool := SYSTEM_TOOLS.get(name)) and tool.package and tool.locate() is None
        }
    )
    if packages:
        _apt_install(packages)
    for name in names:
        system = SYSTEM_TOOLS.get(name)
        if system is not None and system.locate() is None:
            raise InstallError(f"{name} is missing: {system.fix}")
    for name in names:
        cached = CACHED_TOOLS.get(name)
        if cached is not None and cached.locate() is None:
            _build(cached)


def _apt_install(packages: list[str]) -> None:
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and shutil.which("sudo") is None:
        raise InstallError(
            f"needs the Debian packages {' '.join(packages)}: run as root or install sudo"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=300"]
    try:
        run_step(
            [*sudo, "apt-get", *lock, "update", "-q"],
            what="apt-get update",
            estimate="about 10 s",
            env=env,
        )
        run_step(
            [*sudo, "apt-get", *lock, "install", "-y", "-q", "--no-install-recommends", *packages],
            what=f"installing Debian packages: {' '.join(packages)}",
            estimate="about 30 s to 2 min",
            env=env,
        )
    except StepFailed as error:
        raise InstallError(str(error)) from None


def _go() -> str:
    go = SYSTEM_TOOLS["go"].locate()
    if go is None:
        raise InstallError(f"go is missing: {SYSTEM_TOOLS['go'].hint}")
    return str(go)


def _build(tool: CachedTool) -> None:
    go = "" if tool.name in ("uv", "asyncapi", "docs-assets") else _go()
    builders = {
        "jaeger": _build_jaeger,
        "crds": _fetch_crds,
        "uv": _install_uv,
        "asyncapi": _install_npm_packages,
        "docs-assets": fetch_docs_assets,
    }
    estimate = {
        "uv": "about 10 s",
        "helm": "about 4 min cold, seconds warm",
        "kubeconform": "about 1 min cold",
        "jaeger": "about 10 min cold, under a minute warm",
        "crds": "about 1 min cold",
        "asyncapi": "about 2 min cold (440 MB from the npm registry)",
        "oasdiff": "about 2 min cold",
        "docs-assets": "about 10 s",
    }.get(tool.name, "a few minutes cold")

    def build(folder: Path) -> None:
        if tool.name in builders:
            builders[tool.name](go, tool, folder, estimate)
            return
        run_step(
            [go, "install", "-trimpath", f"{tool.module}@{tool.version}"],
            what=f"building {tool.name} {tool.version} from the Go module proxy",
            estimate=estimate,
            env=go_env(bin_dir=folder),
            watch=cache_root() / "go",
        )

    try:
        build_once(tool.entry.path, tool.fingerprint, build)
    except StepFailed as error:
        raise InstallError(str(error)) from None
    announce(f"{tool.name} {tool.version} is in {tool.entry.path}")


def _install_uv(go: str, tool: CachedTool, folder: Path, estimate: str) -> None:
    """uv's wheel holds a static binary: installed with pip into the entry's `bin/`."""
    run_step(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(folder),
            f"{tool.module}=={tool.version}",
        ],
        what=f"installing uv {tool.version} from PyPI",
        estimate=estimate,
    )


def _install_npm_packages(go: str, tool: CachedTool, folder: Path, estimate: str) -> None:
    """npm packages into the entry's own node_modules (their install scripts are not run)."""
    npm = SYSTEM_TOOLS["npm"].locate()
    if npm is None:
        raise InstallError(f"npm is missing: {SYSTEM_TOOLS['npm'].fix}")
    run_step(
        [
            str(npm),
            "install",
            "--prefix",
            str(folder),
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--omit=dev",
            *tool.module.split(),
        ],
        what=f"installing {tool.module} from the npm registry",
        estimate=estimate,
        env={**os.environ, "npm_config_cache": str(cache_root() / "npm")},
        watch=folder,
    )


def _module_dir(go: str, module: str) -> Path:
    """Download a module (a no-op when cached) and return its folder in the module cache."""
    result = subprocess.run(
        [go, "mod", "download", "-json", module],
        capture_output=True,
        text=True,
        env=go_env(),
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise StepFailed(
            f"go mod download {module} failed: {(result.stdout + result.stderr)[-2000:]}"
        )
    return Path(json.loads(result.stdout)["Dir"])


def _build_jaeger(go: str, tool: CachedTool, folder: Path, estimate: str) -> None:
    # Jaeger's go.mod carries a replace line, which `go install` refuses: build in its folder.
    run_step(
        [go, "mod", "download", f"{tool.module}@{tool.version}"],
        what=f"downloading Jaeger {tool.version}'s module",
        estimate="about 30 s cold",
        env=go_env(),
        watch=cache_root() / "go" / "mod",
    )
    source = _module_dir(go, f"{tool.module}@{tool.version}")
    run_step(
        [go, "build", "-trimpath", "-o", str(folder / "jaeger"), "./cmd/jaeger"],
        what=f"building Jaeger {tool.version} from the Go module proxy",
        estimate=estimate,
        env=go_env(),
        cwd=source,
        watch=cache_root() / "go",
    )


def _fetch_crds(go: str, tool: CachedTool, folder: Path, estimate: str) -> None:
    """The CRDs' own YAML from their Go modules, and skaffold's JSON schema from its module."""
    sources = {
        f"github.com/prometheus-operator/prometheus-operator@{PROMETHEUS_OPERATOR_VERSION}": [
            "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
            "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
        ],
        f"sigs.k8s.io/gateway-api@{GATEWAY_API_VERSION}": [
            "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
            "config/crd/standard/gateway.networking.k8s.io_gateways.yaml",
        ],
        f"github.com/GoogleContainerTools/skaffold/v2@{SKAFFOLD_VERSION}": [
            f"docs-v2/content/en/schemas/{SKAFFOLD_SCHEMA}.json",
        ],
    }
    for module, files in sources.items():
        run_step(
            [go, "mod", "download", module],
            what=f"downloading {module} (for its CRDs/schema)",
            estimate=estimate,
            env=go_env(),
            watch=cache_root() / "go" / "mod",
        )
        source = _module_dir(go, module)
        for relative in files:
            name = Path(relative).name
            if name.endswith(".json"):
                name = f"skaffold-{name}"
            shutil.copyfile(source / relative, folder / name)
