"""The Kafka broker's own metrics: its JMX exporter agent lists every series the event
pipeline's "Kafka broker" row reads, under Strimzi's names and with bounded cardinality, and
Prometheus scrapes it as job `kafka` with the labels a service's target gets.

Needs the test stack; the Prometheus test needs it with observability (`make test` starts it so).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from devstack.prometheus import NAMESPACE
from devstack.stack import Stack
from servicekit.testing.events import eventually

# Without includeObjectNames the exporter lists ~8,800 samples (every request type's eight
# latency histograms); with it a few hundred, growing only with topics and partitions.
MAX_BROKER_SAMPLES = 1500


def test_the_broker_lists_every_series_its_dashboard_row_reads(
    kafka_broker_panels: list[dict[str, Any]],
    broker_metrics: set[str],
    metric_names: Callable[[str], set[str]],
) -> None:
    named = {
        name: panel["title"]
        for panel in kafka_broker_panels
        for target in panel["targets"]
        for name in metric_names(target["expr"].replace("$__rate_interval", "1m"))
    }
    assert {
        "kafka_server_brokertopicmetrics_messagesin_total",
        "kafka_server_brokertopicmetrics_bytesin_total",
        "kafka_server_brokertopicmetrics_bytesout_total",
        "kafka_server_replicamanager_underreplicatedpartitions",
        "kafka_controller_kafkacontroller_activecontrollercount",
        "kafka_network_requestmetrics_totaltimems",
        "kafka_network_socketserver_networkprocessoravgidle_percent",
        "kafka_log_log_size",
        "jvm_memory_used_bytes",
    } <= named.keys()
    missing = {name: title for name, title in named.items() if name not in broker_metrics}
    assert not missing, f"panels reading series the broker does not list: {missing}"


def test_every_broker_panel_reads_the_kafka_job_only(
    kafka_broker_panels: list[dict[str, Any]],
) -> None:
    """The row's queries select `job="kafka"`: the services export process and runtime series
    too, which must not mix into the broker's."""
    for panel in kafka_broker_panels:
        for target in panel["targets"]:
            assert 'job="kafka"' in target["expr"], panel["title"]


def test_the_broker_exports_a_bounded_number_of_series(test_stack: Stack) -> None:
    url = test_stack.kafka.metrics_url
    assert url is not None
    text = httpx.get(url, timeout=10.0, trust_env=False).raise_for_status().text
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert 0 < len(samples) <= MAX_BROKER_SAMPLES
    request_types = {
        line.split('request="')[1].split('"')[0]
        for line in samples
        if line.startswith("kafka_network_requestmetrics_totaltimems{")
    }
    assert "Produce" in request_types
    assert "FetchConsumer" in request_types
    assert len(request_types) <= 11  # the types named in jmx-exporter.yaml, not all ~90


async def test_prometheus_scrapes_the_broker_as_job_kafka(observed: Stack) -> None:
    found: dict[str, Any] = {}

    async def broker_is_up() -> bool:
        async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
            response = await client.get(
                f"{observed.prometheus.url}/api/v1/query", params={"query": 'up{job="kafka"}'}
            )
        response.raise_for_status()
        result = response.json()["data"]["result"]
        if len(result) == 1 and result[0]["value"][1] == "1":
            found["labels"] = result[0]["metric"]
            return True
        return False

    # A target's first scrape comes within one interval (5 s) of Prometheus starting.
    await eventually(broker_is_up, timeout_s=30, what='up{job="kafka"} == 1 in Prometheus')
    labels = found["labels"]
    assert labels["namespace"] == NAMESPACE
    assert labels["service"] == "kafka"
    assert labels["pod"] == "kafka-0"
    assert labels["endpoint"] == "metrics"
    assert labels["instance"].endswith(f":{observed.profile.kafka_metrics_port}")
