"""The platform overview: every service's golden signals on one screen."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builder

from devstack.dashboards.panels import (
    API,
    JOB,
    SCOPE,
    Query,
    base_dashboard,
    job_variable,
    quantiles,
    stat_panel,
    table_panel,
    timeseries_panel,
)

__all__ = ["REQUESTS", "overview", "rate", "ratio"]

REQUESTS = "http_server_request_duration_seconds"


def rate(metric: str, selector: str, by: str) -> str:
    return f"sum by ({by}) (rate({metric}{{{selector}}}[$__rate_interval]))"


def ratio(metric: str, part: str, whole: str, by: str) -> str:
    """part / whole, 0 (not "no data") while the part has no series yet."""
    numerator = rate(metric, f"{whole},{part}", by)
    denominator = rate(metric, whole, by)
    return f"({numerator} or {denominator} * 0) / {denominator}"


def overview() -> builder.Dashboard:
    jobs = f"{API},{JOB}"
    count = f"{REQUESTS}_count"
    return (
        base_dashboard(
            "flotilla-overview",
            "Flotilla / Platform overview",
            "Every service's golden signals on one screen: traffic, errors (4xx and 5xx apart), "
            "latency, saturation. A series links to its service's drill-down and traces.",
        )
        .with_variable(job_variable(multi=True))
        .with_row(builder.Row("Golden signals, every service"))
        .with_panel(
            timeseries_panel(
                "Traffic (requests/s)", [Query(rate(count, jobs, "job"), "{{job}}")], unit="reqps"
            )
        )
        .with_panel(
            timeseries_panel(
                "Server errors (5xx ratio)",
                [Query(ratio(count, 'http_response_status_code=~"5.."', jobs, "job"), "{{job}}")],
                unit="percentunit",
                description="Burns the availability SLO (99.5 %).",
            )
        )
        .with_panel(
            timeseries_panel(
                "Client errors (4xx ratio)",
                [Query(ratio(count, 'http_response_status_code=~"4.."', jobs, "job"), "{{job}}")],
                unit="percentunit",
                description="The callers' mistakes (validation, 404, 409, 429): not the SLO's, "
                "but a jump means a broken client or a changed contract.",
            )
        )
        .with_panel(
            timeseries_panel(
                "Latency p95",
                quantiles(REQUESTS, "job", jobs, qs=(0.95,)),
                unit="s",
                description="Exemplars (dots) open the trace of one such request.",
            )
        )
        .with_panel(
            timeseries_panel("Latency p99", quantiles(REQUESTS, "job", jobs, qs=(0.99,)), unit="s")
        )
        .with_panel(
            timeseries_panel(
                "Requests in flight",
                [Query(f"sum by (job) (http_server_active_requests{{{JOB}}})", "{{job}}")],
            )
        )
        .with_row(builder.Row("Saturation"))
        .with_panel(
            timeseries_panel(
                "DB pool in use (of its max)",
                [
                    Query(
                        f'sum by (job) (db_client_connection_count{{{JOB},state="used"}}) '
                        f"/ sum by (job) (db_client_connection_max{{{JOB}}})",
                        "{{job}}",
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            timeseries_panel(
                "DB pool: requests waiting for a connection",
                [
                    Query(
                        f"sum by (job) (db_client_connection_pending_requests{{{JOB}}})",
                        "{{job}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Event-loop lag p99",
                quantiles("flotilla_event_loop_lag_seconds", "job", JOB, qs=(0.99,)),
                unit="s",
                description="How late timers fire: > 100 ms means blocking or CPU-bound work.",
            )
        )
        .with_row(builder.Row("Health"))
        .with_panel(
            stat_panel(
                "Instances up",
                [Query(f"sum by (job) (up{{{JOB}}})", "{{job}}")],
                width=8,
            )
        )
        .with_panel(
            stat_panel(
                "Availability budget burn (1h)",
                [
                    Query(
                        f"job:flotilla_http_errors:ratio_rate1h{{{JOB}}} / 0.005",
                        "{{job}}",
                    )
                ],
                description="1 spends the 30-day budget in 30 days; 14.4 pages.",
                width=8,
            )
        )
        .with_panel(
            stat_panel(
                "Alerts firing",
                [Query(f'sum(ALERTS{{alertstate="firing",{SCOPE}}}) or vector(0)', "firing")],
                width=8,
            )
        )
        .with_panel(
            table_panel(
                "Running versions",
                [Query(f"max by (job, version, git_sha) (flotilla_build_info{{{JOB}}})")],
                width=24,
                height=6,
            )
        )
    )
