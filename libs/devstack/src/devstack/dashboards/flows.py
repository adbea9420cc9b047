"""The event pipeline: outbox → Kafka → consumer groups, retries, dead letters, the broker
itself."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builder

from devstack.dashboards.broker import kafka_broker_row
from devstack.dashboards.overview import rate
from devstack.dashboards.panels import (
    JOB,
    Query,
    base_dashboard,
    job_variable,
    quantiles,
    table_panel,
    timeseries_panel,
)

__all__ = ["event_pipeline"]


def event_pipeline() -> builder.Dashboard:
    job = JOB
    consumed = "flotilla_events_consumed_total"
    pipeline = (
        base_dashboard(
            "flotilla-events",
            "Flotilla / Event pipeline",
            "Outbox backlog and age per service, then each consumer group: lag, throughput by "
            "outcome, processing time, retries and dead letters; then the Kafka broker.",
        )
        .with_variable(job_variable(multi=True))
        .with_row(builder.Row("Outbox (per producing service)"))
        .with_panel(
            timeseries_panel(
                "Backlog (rows not yet on Kafka)",
                [Query(f"sum by (job) (flotilla_outbox_backlog{{{job}}})", "{{job}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Oldest unpublished row",
                [
                    Query(
                        f"max by (job) (flotilla_outbox_oldest_unpublished_age_seconds{{{job}}})",
                        "{{job}}",
                    )
                ],
                unit="s",
                description="Alerts (FlotillaOutboxStalled) past 60 s for 2 minutes.",
            )
        )
        .with_panel(
            timeseries_panel(
                "Published/s and relay interruptions/s",
                [
                    Query(rate("flotilla_outbox_published_total", job, "job"), "{{job}}"),
                    Query(
                        rate("flotilla_outbox_relay_failures_total", job, "job, error_type"),
                        "{{job}} failed: {{error_type}}",
                    ),
                ],
                unit="ops",
            )
        )
        .with_panel(
            timeseries_panel(
                "Rows per relay batch",
                [
                    Query(
                        f"{rate('flotilla_outbox_published_total', job, 'job')} / "
                        f"{rate('flotilla_outbox_batches_total', job, 'job')}",
                        "{{job}}",
                    )
                ],
                description="Rows published ÷ batches sent, each batch one produce request. "
                "Near 1 under load: the relay keeps up a row at a time; growing during a "
                "backlog: it drains in full batches.",
            )
        )
        .with_row(builder.Row("Consumer groups"))
        .with_panel(
            timeseries_panel(
                "Lag by group (records behind)",
                [Query(f"sum by (group) (flotilla_consumer_lag{{{job}}})", "{{group}}")],
                description="Alerts (FlotillaConsumerLagHigh) past 1000 for 5 minutes.",
            )
        )
        .with_panel(
            timeseries_panel(
                "Processed/s by group",
                [
                    Query(
                        rate(consumed, f'{job},outcome=~"processed|duplicate"', "group, outcome"),
                        "{{group}} {{outcome}}",
                    )
                ],
                unit="ops",
            )
        )
        .with_panel(
            timeseries_panel(
                "Processing time p95 by group",
                quantiles("flotilla_event_processing_duration_seconds", "group", job, qs=(0.95,)),
                unit="s",
            )
        )
        .with_panel(
            timeseries_panel(
                "Retried/s by group (sent to a retry topic)",
                [Query(rate(consumed, f'{job},outcome="retried"', "group"), "{{group}}")],
                unit="ops",
            )
        )
        .with_panel(
            timeseries_panel(
                "Dead-lettered in the last hour, per group and reason",
                [
                    Query(
                        "sum by (group, reason) "
                        f"(increase(flotilla_dlq_published_total{{{job}}}[1h]))",
                        "{{group}} {{reason}}",
                    )
                ],
                description="Redrive with `python -m servicekit.dlq redrive --group <group>` "
                "(docs/runbooks/FlotillaDeadLettersGrowing.md).",
                bars=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Skipped or unreadable/s (unknown type, invalid)",
                [
                    Query(
                        rate(consumed, f'{job},outcome=~"unknown_type|invalid"', "group, outcome"),
                        "{{group}} {{outcome}}",
                    )
                ],
                unit="ops",
            )
        )
        .with_panel(
            table_panel(
                "Lag by partition",
                [Query(f"sum by (group, topic, partition) (flotilla_consumer_lag{{{job}}})")],
                width=24,
            )
        )
    )
    return kafka_broker_row(pipeline)
