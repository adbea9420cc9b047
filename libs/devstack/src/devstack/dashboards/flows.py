"""The event pipeline (outbox → Kafka → consumer groups, retries, dead letters, the broker
itself) and the order funnel (placed → confirmed / cancelled / rejected, time to final, money)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builder

from devstack.dashboards.broker import kafka_broker_row
from devstack.dashboards.overview import rate
from devstack.dashboards.panels import (
    Query,
    base_dashboard,
    job_variable,
    quantiles,
    stat_panel,
    table_panel,
    timeseries_panel,
)

__all__ = ["event_pipeline", "order_funnel"]


def event_pipeline() -> builder.Dashboard:
    job = 'job=~"$job"'
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


def order_funnel() -> builder.Dashboard:
    orders = "flotilla_orders_total"
    return (
        base_dashboard(
            "flotilla-orders",
            "Flotilla / Order funnel",
            "Orders placed and how they end (confirmed, cancelled, rejected), how long that "
            "takes, what is stuck, and the money and customers behind them.",
        )
        .with_row(builder.Row("Funnel"))
        .with_panel(
            stat_panel(
                "Orders in the time range, by outcome",
                [Query(f"sum by (outcome) (increase({orders}[$__range]))", "{{outcome}}")],
                width=12,
                job="orders",
            )
        )
        .with_panel(
            stat_panel(
                "Confirmed / placed",
                [
                    Query(
                        f'sum(increase({orders}{{outcome="confirmed"}}[$__range])) '
                        f'/ sum(increase({orders}{{outcome="placed"}}[$__range]))',
                        "confirmed",
                    )
                ],
                unit="percentunit",
                width=6,
                job="orders",
            )
        )
        .with_panel(
            stat_panel(
                "Open past their deadline now",
                [Query("sum(flotilla_orders_overdue)", "overdue")],
                width=6,
                job="orders",
                description="The sweeper cancels them; above 0 for long means stuck orders.",
            )
        )
        .with_panel(
            timeseries_panel(
                "Orders/s by outcome",
                [Query(f"sum by (outcome) (rate({orders}[$__rate_interval]))", "{{outcome}}")],
                unit="ops",
                width=12,
                job="orders",
            )
        )
        .with_panel(
            timeseries_panel(
                "Time from placed to final",
                quantiles("flotilla_order_time_to_final_seconds", "", ""),
                unit="s",
                width=12,
                job="orders",
            )
        )
        .with_panel(
            timeseries_panel(
                "Stuck and odd orders",
                [
                    Query("max(flotilla_orders_overdue_oldest_seconds)", "most overdue (s)"),
                    Query(
                        "sum by (event_type) (rate(flotilla_orders_ignored_events_total"
                        "[$__rate_interval]))",
                        "ignored {{event_type}}",
                    ),
                    Query(
                        "sum(increase(flotilla_orders_late_payments_total[1h]))",
                        "late payments (1h)",
                    ),
                ],
                job="orders",
            )
        )
        .with_panel(
            timeseries_panel(
                "Breakers on the saga's calls (0 closed, 1 open, 2 half-open)",
                [
                    Query(
                        "max by (job, name) "
                        '(flotilla_circuit_breaker_state{job=~"orders|payments"})',
                        "{{job}} → {{name}}",
                    )
                ],
                job="payments",
            )
        )
        .with_row(builder.Row("Money and customers"))
        .with_panel(
            timeseries_panel(
                "Payments/s by outcome",
                [
                    Query(
                        "sum by (outcome) (rate(flotilla_payments_total[$__rate_interval]))",
                        "{{outcome}}",
                    )
                ],
                unit="ops",
                job="payments",
            )
        )
        .with_panel(
            timeseries_panel(
                "Revenue/s by currency (major units)",
                [
                    Query(
                        "sum by (currency) (rate(flotilla_payments_revenue_cents_total"
                        "[$__rate_interval])) / 100",
                        "{{currency}}",
                    )
                ],
                job="payments",
            )
        )
        .with_panel(
            timeseries_panel(
                "Provider (psp) charges/s by outcome",
                [
                    Query(
                        "sum by (outcome) (rate(flotilla_psp_charges_total[$__rate_interval]))",
                        "{{outcome}}",
                    )
                ],
                unit="ops",
                job="psp",
            )
        )
        .with_panel(
            stat_panel(
                "Revenue in the time range",
                [
                    Query(
                        "sum by (currency) (increase(flotilla_payments_revenue_cents_total"
                        "[$__range])) / 100",
                        "{{currency}}",
                    )
                ],
                width=12,
                job="payments",
            )
        )
        .with_panel(
            stat_panel(
                "Sign-ups in the time range",
                [Query("sum(increase(flotilla_identity_signups_total[$__range]))", "sign-ups")],
                width=12,
                job="identity",
            )
        )
    )
