"""Jaeger v2, the local trace backend: the services export spans to its OTLP/HTTP receiver, it
keeps them in memory, and its query API and UI serve them (`/api/traces/<id>`, `/search`).

Jaeger v2 is an OpenTelemetry Collector distribution. Its Go module is tagged `v1.x` only (the
`v2.x` tags lack a `/v2` module path) and its go.mod carries a `replace` line, so `go install`
refuses it: `make obs-tools` builds it inside its own module folder, pinned in
`devstack.toolchain.catalog`, into the machine's tool cache (about ten minutes, once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devstack.process import ManagedProcess, http_ok
from devstack.profiles import Profile
from devstack.toolchain.catalog import CACHED_TOOLS, JAEGER_VERSION

__all__ = ["JAEGER_MODULE_VERSION", "JaegerError", "JaegerServer", "jaeger_binary"]

# The module tag that ships Jaeger v2 (cmd/jaeger) as `github.com/jaegertracing/jaeger`.
JAEGER_MODULE_VERSION = JAEGER_VERSION


class JaegerError(RuntimeError):
    """Jaeger is missing or did not become ready; the message says what to do."""


def jaeger_binary(profile: Profile) -> Path:
    """The cached build (`profile` kept for callers: every profile shares it)."""
    jaeger = CACHED_TOOLS["jaeger"]
    return jaeger.entry.path / (jaeger.binary or "jaeger")


class JaegerServer:
    def __init__(self, profile: Profile) -> None:
        self.host = profile.host
        self.otlp_http_port = profile.otlp_http_port
        self.query_port = profile.jaeger_query_port
        self.grpc_port = profile.jaeger_grpc_port
        self.binary = jaeger_binary(profile)
        self.config_file = profile.root / "jaeger" / "config.yaml"
        self.process = ManagedProcess(
            "jaeger", profile.pids / "jaeger.pid", profile.logs / "jaeger.log"
        )

    @property
    def url(self) -> str:
        """The UI, and the query API under `/api`."""
        return f"http://{self.host}:{self.query_port}"

    @property
    def otlp_endpoint(self) -> str:
        """What services get as OTEL_EXPORTER_OTLP_ENDPOINT (they append /v1/traces)."""
        return f"http://{self.host}:{self.otlp_http_port}"

    def start(self, timeout: float = 30.0) -> None:
        if not self.binary.exists():
            raise JaegerError(
                f"{self.binary} is missing: `make obs-tools` builds it (Go, once, ~10 minutes)"
            )
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        self.process.start([str(self.binary), "--config", str(self.config_file)])
        failure = self.process.wait_until(self.is_ready, timeout)
        if failure:
            raise JaegerError(f"jaeger did not start: {failure}")

    def stop(self) -> None:
        self.process.stop()

    def is_running(self) -> bool:
        return self.process.is_running()

    def pid(self) -> int | None:
        return self.process.pid()

    def is_ready(self) -> bool:
        return http_ok(f"{self.url}/api/services")

    def config(self) -> dict[str, Any]:
        """OTLP/HTTP in, an in-memory store, the query extension; every port on loopback."""
        host = self.host
        return {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query"],
                "pipelines": {
                    "traces": {
                        "receivers": ["otlp"],
                        "processors": ["batch"],
                        "exporters": ["jaeger_storage_exporter"],
                    }
                },
                # No self-telemetry endpoint: it would need one more port per profile.
                "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
            },
            "extensions": {
                "jaeger_query": {
                    "storage": {"traces": "memstore"},
                    "http": {"endpoint": f"{host}:{self.query_port}"},
                    "grpc": {"endpoint": f"{host}:{self.grpc_port}"},
                },
                "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": 50_000}}}},
            },
            "receivers": {
                "otlp": {"protocols": {"http": {"endpoint": f"{host}:{self.otlp_http_port}"}}}
            },
            "processors": {"batch": {"timeout": "1s"}},
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
        }
