"""The dashboards and rules against the running services and Kafka broker: every PromQL
expression parses and every metric it names is exported by a scrape target, so no panel or
alert is silently empty; the committed JSON is what the code generates; panels lead to traces."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from devstack.dashboards.__main__ import main as dashboards_cli
from devstack.profiles import REPO_ROOT

DATASOURCES = REPO_ROOT / "deploy" / "observability" / "grafana" / "datasources.yaml"
Selectors = Callable[[str], list[Any]]  # the `selectors` fixture
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
    assert variables["job"]["query"] == (
        'label_values(flotilla_build_info{cluster=~"$cluster",namespace=~"$namespace"}, job)'
    )
    assert not variables["job"].get("multi")


# What the install-scope variables become before parsing: markers a matcher can be checked by.
_SCOPE_MARKERS = {"$cluster": "CLUSTER", "$namespace": "NAMESPACE"}


def _scope_of(expr: str, selectors: Selectors) -> list[set[tuple[str, str]]]:
    """For each vector selector: its (label, value) pairs among the install-scope matchers."""
    for variable, marker in _SCOPE_MARKERS.items():
        expr = expr.replace(variable, marker)
    return [
        {
            (m.name, m.value)
            for m in selector.matchers.matchers
            if m.name in ("cluster", "namespace")
        }
        for selector in selectors(expr)
    ]


def test_every_query_selects_one_install_by_cluster_and_namespace(
    all_dashboards: dict[str, dict[str, Any]], selectors: Selectors
) -> None:
    """Two Flotilla installs scraped by one Prometheus never add up on a panel."""
    scoped = {("cluster", "CLUSTER"), ("namespace", "NAMESPACE")}
    for name, dashboard in all_dashboards.items():
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                found = _scope_of(target["expr"], selectors)
                assert found, f"{name}: {panel['title']!r} selects nothing"
                assert all(s == scoped for s in found), f"{name}: {panel['title']!r}"
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        if "job" in variables:
            selector = re.fullmatch(r"label_values\((.+), job\)", variables["job"]["query"])
            assert selector, variables["job"]["query"]
            assert _scope_of(selector[1], selectors) == [scoped], f"{name}: $job"


@pytest.mark.parametrize("variable", ["cluster", "namespace"])
def test_every_dashboard_picks_one_cluster_and_one_namespace(
    all_dashboards: dict[str, dict[str, Any]], variable: str
) -> None:
    """One at a time (no "All"): summing two installs' series is what the scope prevents."""
    for name, dashboard in all_dashboards.items():
        names = [v["name"] for v in dashboard["templating"]["list"]]
        found = dashboard["templating"]["list"][names.index(variable)]
        assert found["type"] == "query", name
        assert found["query"].startswith("label_values(flotilla_build_info"), name
        assert found["query"].endswith(f", {variable})"), name
        assert not found.get("multi"), name
        assert not found.get("includeAll"), name
        # Each variable's query reads the ones before it: cluster, then namespace, then job.
        order = [n for n in names if n in ("cluster", "namespace", "job")]
        assert order == ["cluster", "namespace", "job"][: len(order)], name


def test_drill_down_links_keep_the_install(all_dashboards: dict[str, dict[str, Any]]) -> None:
    for name, dashboard in all_dashboards.items():
        for panel in dashboard["panels"]:
            for link in panel.get("fieldConfig", {}).get("defaults", {}).get("links", []):
                if link["url"].startswith("/d/"):
                    assert "var-cluster=${cluster}" in link["url"], f"{name}: {panel['title']}"
                    assert "var-namespace=${namespace}" in link["url"], f"{name}: {panel['title']}"


def test_dashboards_start_on_flotillas_own_prometheus_data_source(
    all_dashboards: dict[str, dict[str, Any]],
) -> None:
    """Not on Grafana's default data source, which a kube-prometheus-stack Grafana owns."""
    provisioned = yaml.safe_load(DATASOURCES.read_text())
    (prometheus,) = [d for d in provisioned["datasources"] if d["type"] == "prometheus"]
    for name, dashboard in all_dashboards.items():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["current"]["value"] == prometheus["uid"], name
        for panel in dashboard["panels"]:
            refs = [
                panel.get("datasource"),
                *(t.get("datasource") for t in panel.get("targets", [])),
            ]
            uids = {ref["uid"] for ref in refs if ref}
            assert uids <= {"${datasource}"}, f"{name}: {panel['title']!r} names {uids}"


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
