"""The dashboards and rules against the running services and Kafka broker: every PromQL
expression parses and every metric it names is exported by a scrape target, so no panel or
alert is silently empty; the committed JSON is what the code generates; panels lead to traces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devstack.dashboards.__main__ import main as dashboards_cli

# Series Prometheus makes itself, not a service.
PROMETHEUS_OWN = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE"})


def test_committed_dashboards_are_what_the_code_generates() -> None:
    assert dashboards_cli(["check"]) == 0, "stale dashboards: run `make dashboards`"


def test_expression_parses(expression: Any, metric_names: Callable[[str], set[str]]) -> None:
    assert metric_names(expression.promql), f"{expression.where} selects no metric"


def test_every_metric_an_expression_names_is_exported(
    expression: Any,
    metric_names: Callable[[str], set[str]],
    exported_metrics: dict[str, set[str]],
    recording_rules: set[str],
) -> None:
    unknown = sorted(
        name
        for name in metric_names(expression.promql)
        if name not in exported_metrics
        and name not in recording_rules
        and name not in PROMETHEUS_OWN
    )
    assert not unknown, f"{expression.where}: no running scrape target exports {unknown}"


def test_there_are_the_four_views(all_dashboards: dict[str, dict[str, Any]]) -> None:
    assert sorted(dashboard["title"] for dashboard in all_dashboards.values()) == [
        "Flotilla / Event pipeline",
        "Flotilla / Order funnel",
        "Flotilla / Platform overview",
        "Flotilla / Service",
    ]


def test_the_service_drill_down_is_templated_by_service(
    all_dashboards: dict[str, dict[str, Any]],
) -> None:
    variables = {v["name"]: v for v in all_dashboards["service.json"]["templating"]["list"]}
    assert variables["job"]["query"] == "label_values(flotilla_build_info, job)"
    assert not variables["job"].get("multi")


def test_every_panel_links_to_traces(all_dashboards: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in all_dashboards.items():
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            urls = [link["url"] for link in panel.get("links", [])]
            assert any(url.startswith("${jaeger_url}/search") for url in urls), (
                f"{name}: {panel['title']!r} has no link to its traces"
            )


def test_latency_panels_carry_exemplars(all_dashboards: dict[str, dict[str, Any]]) -> None:
    """Exemplars hold the trace id of a sampled request: a point on the graph opens its trace."""
    for dashboard in all_dashboards.values():
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                if "http_server_request_duration_seconds_bucket" in target["expr"]:
                    assert target.get("exemplar") is True, panel["title"]
