"""Every external program a make target runs: what it is, which target needs it, where it comes
from, how to tell it is there and which version it is.

The one list behind `make doctor` and behind each target's install step (`devstack.toolchain
ensure --for <target>`), so a target can never use a tool that nothing installs. Versions of what
we build or fetch are pinned here and nowhere else.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.toolchain.cache import CacheEntry

__all__ = [
    "ASYNCAPI_CLI_VERSION",
    "ASYNCAPI_HTML_TEMPLATE_VERSION",
    "CACHED_TOOLS",
    "DOCS_ASSETS_VERSION",
    "HELM_VERSION",
    "JAEGER_VERSION",
    "KUBECONFORM_VERSION",
    "OASDIFF_VERSION",
    "REDOC_VERSION",
    "SWAGGER_UI_VERSION",
    "SYSTEM_TOOLS",
    "TARGETS",
    "UV_VERSION",
    "CachedTool",
    "SystemTool",
    "tools_for",
    "version_of",
]

UV_VERSION = "0.13.9"
HELM_VERSION = "v4.3.2"
KUBECONFORM_VERSION = "v0.7.0"
# Jaeger v2's cmd/jaeger ships in the module's v1.x tags (v1.76.0 is served but not approved).
JAEGER_VERSION = "v1.75.0"
# The breaking-change gate on the services' committed OpenAPI documents (`make lint`).
OASDIFF_VERSION = "v1.39.0"
# The API docs pages' scripts and styles, served by the services themselves (never a CDN): the
# npm packages' files, fetched with npm into the tool cache. ReDoc's bundle is given its logo
# inline (devstack.toolchain.docs_assets): "-local-logo" names that entry.
SWAGGER_UI_VERSION = "5.35.0"
REDOC_VERSION = "3.0.1"
DOCS_ASSETS_VERSION = f"swagger-ui-dist-{SWAGGER_UI_VERSION}-redoc-{REDOC_VERSION}-local-logo"
# The CRDs (and skaffold's JSON schema) that tests/deploy validates rendered objects against.
PROMETHEUS_OPERATOR_VERSION = "v0.85.0"
GATEWAY_API_VERSION = "v1.4.1"
SKAFFOLD_VERSION = "v2.16.1"
SKAFFOLD_SCHEMA = "v4beta13"
# AsyncAPI's own tools, from the npm registry: the CLI validates asyncapi.yaml (`make lint`),
# the HTML template renders it for the docs.
ASYNCAPI_CLI_VERSION = "6.2.0"
ASYNCAPI_HTML_TEMPLATE_VERSION = "3.5.6"


@dataclass(frozen=True)
class SystemTool:
    """A program from the machine: a Debian package we install, or one the machine ships."""

    name: str
    candidates: tuple[str, ...]  # command names or absolute paths, first found wins
    version_argv: tuple[str, ...]  # appended to the binary to print its version
    package: str | None  # the Debian package that brings it; None: the machine must ship it
    hint: str = ""  # what to do when it is missing and no package brings it

    def locate(self) -> Path | None:
        for candidate in self.candidates:
            if candidate.startswith("/"):
                if os.path.exists(candidate):
                    return Path(candidate)
            elif found := shutil.which(candidate):
                return Path(found)
        return None

    @property
    def source(self) -> str:
        return f"Debian package {self.package}" if self.package else "the machine"

    @property
    def fix(self) -> str:
        if self.package:
            return f"make tools TOOLS={self.name}  (apt-get install {self.package})"
        return self.hint


@dataclass(frozen=True)
class CachedTool:
    """A program built or fetched into the tool cache: from the Go module proxy or PyPI."""

    name: str
    module: str  # `go install` path, a module whose files we copy, or a PyPI requirement
    version: str
    origin: str  # where it comes from, for `make doctor`
    kind: str = "tools"  # cache folder: tools (a binary) or data (files)
    binary: str | None = None  # the file inside the entry; None for data entries

    @property
    def entry(self) -> CacheEntry:
        return CacheEntry(self.kind, self.name, self.version)

    def locate(self) -> Path | None:
        from devstack.toolchain.cache import entry_problem

        if entry_problem(self.entry.path, self.fingerprint) is not None:
            return None
        return self.entry.path / self.binary if self.binary else self.entry.path

    @property
    def fingerprint(self) -> str:
        return f"{self.module}@{self.version}"

    @property
    def source(self) -> str:
        return self.origin

    @property
    def fix(self) -> str:
        return f"make tools TOOLS={self.name}  ({self.origin})"


SYSTEM_TOOLS: dict[str, SystemTool] = {
    tool.name: tool
    for tool in (
        SystemTool("python3", ("python3",), ("--version",), None, "install Python 3.11"),
        SystemTool("git", ("git",), ("--version",), "git"),
        SystemTool(
            "go",
            ("go", "/usr/local/go/bin/go"),
            ("version",),
            None,
            "install Go >= 1.24 (this machine kind ships Go 1.26 in /usr/local/go)",
        ),
        SystemTool(
            "kubectl",
            ("kubectl",),
            ("version", "--client"),
            None,
            "install kubectl >= 1.30 (this machine kind ships it)",
        ),
        SystemTool("nginx", ("nginx", "/usr/sbin/nginx"), ("-v",), "nginx-light"),
        SystemTool(
            "postgres",
            ("/usr/lib/postgresql/15/bin/postgres",),
            ("--version",),
            "postgresql-15",
        ),
        SystemTool(
            "psql",
            ("psql", "/usr/lib/postgresql/15/bin/psql"),
            ("--version",),
            "postgresql-client-15",
        ),
        # `make bench` sets a one-row POST beside pgbench's same insert; Debian ships it with
        # the server, next to the binaries devstack runs.
        SystemTool(
            "pgbench",
            ("/usr/lib/postgresql/15/bin/pgbench",),
            ("--version",),
            "postgresql-15",
        ),
        SystemTool("java", ("java",), ("-version",), "openjdk-17-jre-headless"),
        SystemTool("mvn", ("mvn",), ("--version",), "maven"),
        SystemTool("npm", ("npm",), ("--version",), "npm"),
        SystemTool("prometheus", ("prometheus",), ("--version",), "prometheus"),
        # tests/e2e/test_docs_in_a_browser.py opens the docs pages in it, headless.
        SystemTool("chromium", ("chromium", "/usr/bin/chromium"), ("--version",), "chromium"),
        SystemTool("promtool", ("promtool",), ("--version",), "prometheus"),
        # The single-node Kubernetes cluster (devstack.cluster) and its host plumbing.
        SystemTool("etcd", ("etcd",), ("--version",), "etcd-server"),
        SystemTool("containerd", ("containerd",), ("--version",), "containerd"),
        SystemTool("runc", ("runc",), ("--version",), "runc"),
        SystemTool(
            "cni-plugins", ("/usr/lib/cni/bridge",), ("--version",), "containernetworking-plugins"
        ),
        SystemTool("conntrack", ("conntrack", "/usr/sbin/conntrack"), ("--version",), "conntrack"),
        SystemTool("iptables", ("iptables", "/usr/sbin/iptables"), ("--version",), "iptables"),
        SystemTool("ip", ("ip", "/usr/sbin/ip", "/sbin/ip"), ("-V",), "iproute2"),
        SystemTool("nft", ("nft", "/usr/sbin/nft"), ("--version",), "nftables"),
        SystemTool("gcc", ("gcc",), ("--version",), "gcc"),
        SystemTool("libc6-dev", ("/usr/include/stdio.h",), (), "libc6-dev"),
        SystemTool("openssl", ("openssl",), ("version",), "openssl"),
        SystemTool("busybox", ("/bin/busybox",), ("--help",), "busybox-static"),
        # `make images` (devstack.images): podman, run with runc (crun refuses this host's
        # cgroups v1; runc and the CNI plugins are listed above), and mmdebstrap for the base.
        SystemTool("podman", ("podman",), ("--version",), "podman"),
        SystemTool("buildah", ("buildah",), ("--version",), "buildah"),
        SystemTool("conmon", ("conmon", "/usr/bin/conmon"), ("--version",), "conmon"),
        SystemTool("mmdebstrap", ("mmdebstrap",), ("--version",), "mmdebstrap"),
    )
}

CACHED_TOOLS: dict[str, CachedTool] = {
    tool.name: tool
    for tool in (
        CachedTool("uv", "uv", UV_VERSION, "PyPI uv, into the cache", binary="bin/uv"),
        CachedTool(
            "helm",
            "helm.sh/helm/v4/cmd/helm",
            HELM_VERSION,
            "Go module helm.sh/helm/v4, built",
            binary="helm",
        ),
        CachedTool(
            "kubeconform",
            "github.com/yannh/kubeconform/cmd/kubeconform",
            KUBECONFORM_VERSION,
            "Go module, built",
            binary="kubeconform",
        ),
        CachedTool(
            "jaeger",
            "github.com/jaegertracing/jaeger",
            JAEGER_VERSION,
            "Go module, built (cmd/jaeger)",
            binary="jaeger",
        ),
        CachedTool(
            "asyncapi",
            f"@asyncapi/cli@{ASYNCAPI_CLI_VERSION} "
            f"@asyncapi/html-template@{ASYNCAPI_HTML_TEMPLATE_VERSION}",
            f"{ASYNCAPI_CLI_VERSION}+html-{ASYNCAPI_HTML_TEMPLATE_VERSION}",
            "npm packages @asyncapi/cli and @asyncapi/html-template, installed",
            binary="node_modules/.bin/asyncapi",
        ),
        CachedTool(
            "oasdiff",
            "github.com/oasdiff/oasdiff",
            OASDIFF_VERSION,
            "Go module, built",
            binary="oasdiff",
        ),
        CachedTool(
            "docs-assets",
            f"swagger-ui-dist@{SWAGGER_UI_VERSION}+redoc@{REDOC_VERSION}",
            DOCS_ASSETS_VERSION,
            "npm packages swagger-ui-dist and redoc, files copied",
            kind="data",
        ),
        CachedTool(
            "crds",
            "prometheus-operator+gateway-api+skaffold",
            f"{PROMETHEUS_OPERATOR_VERSION}-{GATEWAY_API_VERSION}-{SKAFFOLD_VERSION}",
            "files of 3 Go modules",
            kind="data",
        ),
    )
}

# What each make target runs, besides the virtualenv (which `make setup` makes with uv).
_STACK = ("git", "nginx", "postgres", "psql", "java", "mvn", "npm", "docs-assets", "asyncapi")
_OBSERVABILITY = ("prometheus", "promtool", "go", "jaeger")
_DEPLOY = ("go", "helm", "kubeconform", "crds", "kubectl", "promtool")
_IMAGES = ("podman", "buildah", "runc", "conmon", "cni-plugins", "mmdebstrap")
TARGETS: dict[str, tuple[str, ...]] = {
    "setup": ("python3", "uv"),
    "lint": ("python3", "uv", "git", "go", "oasdiff", "npm", "asyncapi"),
    "up": ("python3", "uv", *_STACK),
    "obs": _OBSERVABILITY,
    "deploy-check": ("python3", "uv", *_DEPLOY),
    "test": ("python3", "uv", *_STACK, *_OBSERVABILITY, *_DEPLOY, "oasdiff", "chromium"),
    "k8s": (
        "python3",
        "uv",
        "go",
        "kubectl",
        "helm",
        "etcd",
        "containerd",
        "runc",
        "cni-plugins",
        "conntrack",
        "iptables",
        "ip",
        "nft",
        "gcc",
        "libc6-dev",
        "openssl",
        "busybox",
    ),
    "images": ("python3", "uv", "git", "mvn", *_IMAGES),
    "bench": ("python3", "uv", *_STACK, "pgbench"),
}


def tools_for(target: str) -> list[str]:
    """The tools `target` runs, each once, in install order."""
    if target not in TARGETS:
        raise KeyError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    return list(dict.fromkeys(TARGETS[target]))


def needed_by(tool: str) -> list[str]:
    return [target for target, tools in TARGETS.items() if tool in tools]


def version_of(name: str, binary: Path) -> str:
    """The first line a tool prints about its version ('' if it prints none)."""
    tool = SYSTEM_TOOLS.get(name)
    argv = [str(binary), *tool.version_argv] if tool else [str(binary), "version"]
    if name == "helm":
        argv = [str(binary), "version", "--short"]
    elif name == "kubeconform":
        argv = [str(binary), "-v"]
    elif name == "jaeger":
        argv = [str(binary), "version"]
    elif name in ("uv", "oasdiff"):
        argv = [str(binary), "--version"]
    elif name in ("crds", "docs-assets", "asyncapi"):
        return CACHED_TOOLS[name].version
    if tool is not None and not tool.version_argv:
        return "-"
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # mvn colours it
    lines = text.strip().splitlines()
    return lines[0].strip()[:70] if lines else "?"
