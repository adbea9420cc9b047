"""The "Kafka broker" row of the event pipeline: what the broker itself reports through the
Prometheus JMX exporter (job `kafka`; the series names of deploy/observability/kafka/
jmx-exporter.yaml, which are the Strimzi examples' names, so a Strimzi cluster fills it too)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builder

from devstack.dashboards.panels import SCOPE, Query, stat_panel, timeseries_panel

__all__ = ["BROKER", "kafka_broker_row"]

BROKER = f'job="kafka",{SCOPE}'
_TOPICS = f'{BROKER},topic!=""'  # the per-topic series; the one without `topic` is the total


def _per_topic(metric: str) -> str:
    return f"sum by (topic) (rate({metric}{{{_TOPICS}}}[$__rate_interval]))"


def kafka_broker_row(dashboard: builder.Dashboard) -> builder.Dashboard:
    """`dashboard` with the row appended (traffic by topic, partition health, the controller,
    requests and their latency, thread idleness, disk, the JVM)."""
    topic_metrics = "kafka_server_brokertopicmetrics"
    return (
        dashboard.with_row(builder.Row("Kafka broker"))
        .with_panel(
            timeseries_panel(
                "Messages in/s by topic",
                [Query(_per_topic(f"{topic_metrics}_messagesin_total"), "{{topic}}")],
                unit="ops",
                drill_down=False,
            )
        )
        .with_panel(
            timeseries_panel(
                "Bytes in/out by topic",
                [
                    Query(_per_topic(f"{topic_metrics}_bytesin_total"), "in {{topic}}"),
                    Query(_per_topic(f"{topic_metrics}_bytesout_total"), "out {{topic}}"),
                ],
                unit="Bps",
                description="Out counts what consumers fetch: one topic read by three groups "
                "goes out three times.",
                drill_down=False,
            )
        )
        .with_panel(
            timeseries_panel(
                "Log size on disk by topic",
                [Query(f"sum by (topic) (kafka_log_log_size{{{BROKER}}})", "{{topic}}")],
                unit="bytes",
                drill_down=False,
            )
        )
        .with_panel(
            timeseries_panel(
                "Requests/s by type",
                [
                    Query(
                        "sum by (request) (rate(kafka_network_requestmetrics_requests_total"
                        f"{{{BROKER}}}[$__rate_interval]))",
                        "{{request}}",
                    )
                ],
                unit="reqps",
                drill_down=False,
            )
        )
        .with_panel(
            timeseries_panel(
                "Request latency p99 by type",
                [
                    Query(
                        "max by (request) (kafka_network_requestmetrics_totaltimems"
                        f'{{{BROKER},quantile="0.99"}})',
                        "p99 {{request}}",
                    )
                ],
                unit="ms",
                description="Receive to response, over the broker's recent requests. Fetch "
                "(FetchConsumer) waits up to the consumer's fetch.max.wait.ms for data by design.",
                drill_down=False,
            )
        )
        .with_panel(
            timeseries_panel(
                "Network and request-handler threads idle",
                [
                    Query(
                        "min(kafka_network_socketserver_networkprocessoravgidle_percent"
                        f"{{{BROKER}}})",
                        "network threads",
                    ),
                    Query(
                        "min(kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent"
                        f"{{{BROKER}}})",
                        "request handlers (1m)",
                    ),
                ],
                unit="percentunit",
                description="Near 0 the broker is saturated: requests queue and every "
                "produce and fetch gets slower.",
                drill_down=False,
            )
        )
        .with_panel(
            stat_panel(
                "Partitions at risk",
                [
                    Query(
                        f"sum(kafka_server_replicamanager_underreplicatedpartitions{{{BROKER}}})",
                        "under-replicated",
                    ),
                    Query(
                        f"sum(kafka_server_replicamanager_underminisrpartitioncount{{{BROKER}}})",
                        "under min ISR",
                    ),
                    Query(
                        f"sum(kafka_controller_kafkacontroller_offlinepartitionscount{{{BROKER}}})",
                        "offline",
                    ),
                ],
                description="All 0 when healthy. Under min ISR refuses acks=all writes (the "
                "outbox relay's); offline partitions have no leader at all.",
            )
        )
        .with_panel(
            stat_panel(
                "Active controllers",
                [
                    Query(
                        f"sum(kafka_controller_kafkacontroller_activecontrollercount{{{BROKER}}})",
                        "active",
                    )
                ],
                description="Exactly 1 in a healthy cluster: 0 stalls every metadata change "
                "(topics, leaders, group coordinators moving).",
            )
        )
        .with_panel(
            timeseries_panel(
                "Broker JVM heap",
                [
                    Query(f'sum(jvm_memory_used_bytes{{{BROKER},area="heap"}})', "used"),
                    Query(f'sum(jvm_memory_max_bytes{{{BROKER},area="heap"}})', "max"),
                ],
                unit="bytes",
                drill_down=False,
            )
        )
        .with_panel(
            timeseries_panel(
                "Broker GC time (share of wall time)",
                [
                    Query(
                        "sum by (gc) (rate(jvm_gc_collection_seconds_sum"
                        f"{{{BROKER}}}[$__rate_interval]))",
                        "{{gc}}",
                    )
                ],
                unit="percentunit",
                drill_down=False,
            )
        )
    )
