"""Prometheus for the local stack (Debian's `prometheus` package), scraping every service the
way the Kubernetes ServiceMonitors make the Prometheus operator scrape them, and evaluating the
very rule files the Helm chart ships (`deploy/observability/rules/`).

Each service is a static target carrying the discovery labels Kubernetes would give its pod
(`__meta_kubernetes_namespace`, `…_service_name`, `…_pod_name`, …); the relabelling below is
the operator's for a ServiceMonitor endpoint. So a series here has the same `job`, `namespace`,
`service`, `pod`, `container` and `endpoint` labels as in a cluster, and the dashboards and
alerts read both alike. The Kafka broker's JMX exporter (`devstack.kafka_metrics`) is one more
such target, job `kafka`, endpoint `metrics`.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from devstack.process import ManagedProcess, http_ok
from devstack.profiles import REPO_ROOT, Profile

__all__ = [
    "NAMESPACE",
    "RULES_DIR",
    "PrometheusError",
    "PrometheusServer",
    "broker_scrape_config",
    "scrape_config",
    "service_monitor_relabelling",
]

RULES_DIR = REPO_ROOT / "deploy" / "observability" / "rules"
NAMESPACE = "flotilla"
"""The namespace label local series carry (the chart's default namespace)."""
_PROMETHEUS = "/usr/bin/prometheus"


class PrometheusError(RuntimeError):
    """Prometheus is missing or did not become ready; the message says what to do."""


def service_monitor_relabelling(endpoint: str = "http") -> list[dict[str, Any]]:
    """The relabel_configs the Prometheus operator generates for a ServiceMonitor endpoint
    (port `endpoint`, no jobLabel): job and service from the Service, namespace, pod, container."""

    def copy(source: str, target: str) -> dict[str, Any]:
        return {"source_labels": [source], "target_label": target}

    return [
        copy("__meta_kubernetes_namespace", "namespace"),
        copy("__meta_kubernetes_service_name", "service"),
        copy("__meta_kubernetes_pod_name", "pod"),
        copy("__meta_kubernetes_pod_container_name", "container"),
        copy("__meta_kubernetes_service_name", "job"),
        {"target_label": "endpoint", "replacement": endpoint},
    ]


def scrape_config(
    services: Sequence[tuple[str, int]],
    host: str,
    interval: str = "5s",
    *,
    job_name: str = "flotilla-services",
    endpoint: str = "http",
) -> dict[str, Any]:
    """One scrape job over `(service, port)` targets, relabelled like a ServiceMonitor's."""
    return {
        "job_name": job_name,
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "metrics_path": "/metrics",
        "static_configs": [
            {
                "targets": [f"{host}:{port}"],
                "labels": {
                    "__meta_kubernetes_namespace": NAMESPACE,
                    "__meta_kubernetes_service_name": name,
                    "__meta_kubernetes_pod_name": f"{name}-0",
                    "__meta_kubernetes_pod_container_name": name,
                },
            }
            for name, port in services
        ],
        "relabel_configs": service_monitor_relabelling(endpoint),
    }


def broker_scrape_config(port: int, host: str, interval: str = "5s") -> dict[str, Any]:
    """The Kafka broker's JMX exporter as job `kafka` (service `kafka`, pod `kafka-0`); a warm
    scrape of the exporter's bounded MBean list takes ~40 ms, so the services' interval suits."""
    return scrape_config(
        [("kafka", port)], host, interval, job_name="kafka-broker", endpoint="metrics"
    )


class PrometheusServer:
    def __init__(self, profile: Profile, services: Sequence[tuple[str, int]]) -> None:
        self.host = profile.host
        self.port = profile.prometheus_port
        self.services = tuple(services)
        self.kafka_metrics_port = profile.kafka_metrics_port
        self.profile_name = profile.name
        self.root = profile.root / "prometheus"
        self.config_file = self.root / "prometheus.yml"
        self.process = ManagedProcess(
            "prometheus", profile.pids / "prometheus.pid", profile.logs / "prometheus.log"
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def config(self) -> dict[str, Any]:
        return {
            "global": {
                "scrape_interval": "5s",
                "evaluation_interval": "5s",
                "external_labels": {"stack": self.profile_name},
            },
            "rule_files": [str(RULES_DIR / "*.yaml")],
            "scrape_configs": [
                scrape_config(self.services, self.host),
                *(
                    [broker_scrape_config(self.kafka_metrics_port, self.host)]
                    if self.kafka_metrics_port
                    else []
                ),
            ],
        }

    def start(self, timeout: float = 30.0) -> None:
        binary = shutil.which("prometheus") or _PROMETHEUS
        if not Path(binary).exists():
            raise PrometheusError(
                "prometheus is not installed: `make setup OBS=1` installs Debian's package"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        # Rewritten at every start: the route table (and so the targets) may have changed.
        self.config_file.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        self.process.start(
            [
                binary,
                f"--config.file={self.config_file}",
                f"--storage.tsdb.path={self.root / 'data'}",
                "--storage.tsdb.retention.time=3d",
                f"--web.listen-address={self.host}:{self.port}",
                # Exemplars carry trace ids from the latency histograms to the dashboards.
                "--enable-feature=exemplar-storage",
                "--web.enable-lifecycle",
            ]
        )
        failure = self.process.wait_until(self.is_ready, timeout)
        if failure:
            raise PrometheusError(f"prometheus did not start: {failure}")

    def stop(self) -> None:
        self.process.stop()

    def is_running(self) -> bool:
        return self.process.is_running()

    def pid(self) -> int | None:
        return self.process.pid()

    def is_ready(self) -> bool:
        return http_ok(f"{self.url}/-/ready")
