"""The per-service drill-down, templated by `job` (the service's name: the ServiceMonitor sets
it): its routes, its pool and loop, its outgoing calls and breakers, its events in and out."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builder

from devstack.dashboards.overview import REQUESTS, rate, ratio
from devstack.dashboards.panels import (
    API,
    JOB,
    Query,
    base_dashboard,
    job_variable,
    quantiles,
    table_panel,
    timeseries_panel,
)

__all__ = ["service"]


def service() -> builder.Dashboard:
    job = JOB
    api = f"{API},{job}"
    count = f"{REQUESTS}_count"
    return (
        base_dashboard(
            "flotilla-service",
            "Flotilla / Service",
            "One service in depth: its routes, its pool and loop, its outgoing calls and "
            "breakers, its events in and out.",
        )
        .with_variable(job_variable(multi=False))
        .with_row(builder.Row("HTTP"))
        .with_panel(
            timeseries_panel(
                "Requests/s by route and status",
                [
                    Query(
                        rate(count, api, "http_route, http_response_status_code"),
                        "{{http_route}} {{http_response_status_code}}",
                    )
                ],
                unit="reqps",
                stacked=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Error ratio by route",
                [
                    Query(
                        ratio(count, 'http_response_status_code=~"5.."', api, "http_route"),
                        "5xx {{http_route}}",
                    ),
                    Query(
                        ratio(count, 'http_response_status_code=~"4.."', api, "http_route"),
                        "4xx {{http_route}}",
                    ),
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            timeseries_panel("Latency by route", quantiles(REQUESTS, "http_route", api), unit="s")
        )
        .with_panel(
            timeseries_panel(
                "Requests in flight",
                [
                    Query(
                        f"sum by (http_request_method) (http_server_active_requests{{{job}}})",
                        "{{http_request_method}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Idempotency outcomes/s",
                [Query(rate("flotilla_idempotency_requests_total", job, "outcome"), "{{outcome}}")],
                unit="reqps",
            )
        )
        .with_panel(
            timeseries_panel(
                "Refused by the chassis/s",
                [Query(rate("flotilla_http_requests_rejected_total", job, "reason"), "{{reason}}")],
                unit="reqps",
                description="Body too large, deadline exceeded, shutting down, ...",
            )
        )
        .with_row(builder.Row("Saturation"))
        .with_panel(
            timeseries_panel(
                "DB pool connections",
                [
                    Query(f"sum by (state) (db_client_connection_count{{{job}}})", "{{state}}"),
                    Query(f"sum(db_client_connection_max{{{job}}})", "max"),
                    Query(f"sum(db_client_connection_pending_requests{{{job}}})", "waiting"),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Event-loop lag",
                quantiles("flotilla_event_loop_lag_seconds", "", job, qs=(0.5, 0.99)),
                unit="s",
            )
        )
        .with_row(builder.Row("Outgoing calls"))
        .with_panel(
            timeseries_panel(
                "Calls/s by downstream and outcome",
                [
                    Query(
                        rate("flotilla_http_client_calls_total", job, "downstream, outcome"),
                        "{{downstream}} {{outcome}}",
                    )
                ],
                unit="reqps",
            )
        )
        .with_panel(
            timeseries_panel(
                "Downstream latency p95 (per attempt)",
                quantiles("http_client_request_duration_seconds", "downstream", job, qs=(0.95,)),
                unit="s",
            )
        )
        .with_panel(
            timeseries_panel(
                "Cacheable GETs/s: from the cache, revalidated, fetched",
                [
                    Query(
                        rate("flotilla_http_client_cache_total", job, "downstream, result"),
                        "{{downstream}} {{result}}",
                    )
                ],
                unit="reqps",
            )
        )
        .with_panel(
            timeseries_panel(
                "Retries and spent retry budget/s",
                [
                    Query(
                        rate("flotilla_http_client_retries_total", job, "downstream"),
                        "retries {{downstream}}",
                    ),
                    Query(
                        rate(
                            "flotilla_http_client_retry_budget_exhausted_total", job, "downstream"
                        ),
                        "budget spent {{downstream}}",
                    ),
                ],
                unit="reqps",
            )
        )
        .with_panel(
            timeseries_panel(
                "Circuit breakers (0 closed, 1 open, 2 half-open)",
                [Query(f"max by (name) (flotilla_circuit_breaker_state{{{job}}})", "{{name}}")],
                width=12,
            )
        )
        .with_panel(
            timeseries_panel(
                "Breaker calls/s by outcome",
                [
                    Query(
                        rate("flotilla_circuit_breaker_calls_total", job, "name, outcome"),
                        "{{name}} {{outcome}}",
                    )
                ],
                unit="reqps",
                width=12,
            )
        )
        .with_row(builder.Row("Events"))
        .with_panel(
            timeseries_panel(
                "Consumed/s by outcome",
                [
                    Query(
                        rate("flotilla_events_consumed_total", job, "group, outcome"),
                        "{{group}} {{outcome}}",
                    )
                ],
                unit="reqps",
            )
        )
        .with_panel(
            timeseries_panel(
                "Processing time p95 by event type",
                quantiles(
                    "flotilla_event_processing_duration_seconds", "event_type", job, qs=(0.95,)
                ),
                unit="s",
            )
        )
        .with_panel(
            timeseries_panel(
                "Consumer lag by topic",
                [Query(f"sum by (topic) (flotilla_consumer_lag{{{job}}})", "{{topic}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Outbox backlog and oldest unpublished age",
                [
                    Query(f"sum(flotilla_outbox_backlog{{{job}}})", "backlog (rows)"),
                    Query(
                        f"max(flotilla_outbox_oldest_unpublished_age_seconds{{{job}}})",
                        "oldest (s)",
                    ),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Dead-lettered in the last hour, by reason",
                [
                    Query(
                        "sum by (group, reason) "
                        f"(increase(flotilla_dlq_published_total{{{job}}}[1h]))",
                        "{{group}} {{reason}}",
                    )
                ],
            )
        )
        .with_panel(
            table_panel(
                "Version",
                [Query(f"max by (job, version, git_sha) (flotilla_build_info{{{job}}})")],
                width=8,
            )
        )
    )
