"""What the observability tests share: the rule files, the dashboards, every PromQL expression
in them, the metric names the running services export, and promtool.

A test that takes an `expression` argument runs once per PromQL expression of the rules and
dashboards, one that takes `alert` once per alerting rule; each is named after where it comes
from (file and panel or rule), so a failure names what to fix.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
import yaml

from devstack.profiles import REPO_ROOT
from devstack.stack import Stack

OBSERVABILITY = REPO_ROOT / "deploy" / "observability"
RULES_DIR = OBSERVABILITY / "rules"
DASHBOARDS_DIR = OBSERVABILITY / "dashboards"
RUNBOOKS_DIR = REPO_ROOT / "docs" / "runbooks"

# Grafana's variables, replaced by something PromQL accepts before parsing.
_GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "${job}": ".*",
    "$job": ".*",
    # Every selector's install scope (namespace=~"$namespace"): any value parses as a regex.
    "${namespace}": ".*",
    "$namespace": ".*",
    "${cluster}": ".*",
    "$cluster": ".*",
}
# label_values(<series selector>, <label>); the selector's matchers may hold commas.
_LABEL_VALUES = re.compile(r"^label_values\((?:(?P<metric>[^()]+?),\s*)?(?P<label>\w+)\)$")


@dataclass(frozen=True)
class Expression:
    where: str
    promql: str


def grafana_to_promql(expr: str) -> str:
    for variable, value in _GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def rule_groups() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(RULES_DIR.glob("*.yaml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            yield path, group


def rules() -> list[dict[str, Any]]:
    return [rule for _, group in rule_groups() for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def dashboards() -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))
    }


def expressions() -> list[Expression]:
    """Every PromQL expression of the rule files and the dashboards (variables and panels)."""
    found = [
        Expression(f"{path.name}: {rule.get('alert') or rule.get('record')}", rule["expr"])
        for path, group in rule_groups()
        for rule in group["rules"]
    ]
    for name, dashboard in dashboards().items():
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                found.append(
                    Expression(f"{name}: {panel['title']!r}", grafana_to_promql(target["expr"]))
                )
        for variable in dashboard["templating"]["list"]:
            if variable["type"] != "query":
                continue
            match = _LABEL_VALUES.match(variable["query"])
            assert match, f"{name}: variable {variable['name']} is not label_values(...)"
            if match["metric"]:
                selector = grafana_to_promql(match["metric"])
                found.append(Expression(f"{name}: ${variable['name']}", selector))
    return found


def _metric_names(node: Any) -> set[str]:
    if isinstance(node, promql_parser.VectorSelector):
        return {node.name} if node.name else set()
    names: set[str] = set()
    for attribute in ("expr", "lhs", "rhs", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, (str, int, float)):
            names |= _metric_names(child)
    for child in getattr(node, "args", None) or ():
        names |= _metric_names(child)
    return names


def vector_selectors(node: Any) -> list[Any]:
    """Every vector selector of a parsed expression, inside ranges, calls and operators too."""
    if isinstance(node, promql_parser.VectorSelector):
        return [node]
    found: list[Any] = []
    for attribute in ("expr", "lhs", "rhs", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, (str, int, float)):
            found += vector_selectors(child)
    for child in getattr(node, "args", None) or ():
        found += vector_selectors(child)
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "expression" in metafunc.fixturenames:
        found = expressions()
        metafunc.parametrize("expression", found, ids=[e.where for e in found])
    if "alert" in metafunc.fixturenames:
        found_alerts = alerts()
        metafunc.parametrize("alert", found_alerts, ids=[a["alert"] for a in found_alerts])


@pytest.fixture(scope="session")
def metric_names() -> Callable[[str], set[str]]:
    """`metric_names(promql)`: the metric names the expression selects (it must parse)."""

    def names(promql: str) -> set[str]:
        return _metric_names(promql_parser.parse(promql))

    return names


@pytest.fixture(scope="session")
def selectors() -> Callable[[str], list[Any]]:
    """`selectors(expr)`: the vector selectors of a dashboard expression (Grafana's variables
    left in it are replaced first; it must parse)."""

    def found(expr: str) -> list[Any]:
        return vector_selectors(promql_parser.parse(grafana_to_promql(expr)))

    return found


@pytest.fixture(scope="session")
def recording_rules() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


@pytest.fixture(scope="session")
def all_alerts() -> list[dict[str, Any]]:
    return alerts()


@pytest.fixture(scope="session")
def all_dashboards() -> dict[str, dict[str, Any]]:
    return dashboards()


@pytest.fixture(scope="session")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not installed: `make obs-tools` (or `apt-get install "
            "--no-install-recommends prometheus`) installs Debian's prometheus package with it"
        )
    return found


def _listed_metrics(url: str) -> set[str]:
    """The metric names a /metrics page lists (HELP/TYPE count: a metric defined at import time
    is listed before its first sample), with a histogram's and a summary's sample suffixes."""
    text = httpx.get(url, timeout=10.0, trust_env=False).raise_for_status().text
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            family, kind = line.split()[2:4]
            names.add(family)
            if kind in ("histogram", "summary"):
                names |= {f"{family}_count", f"{family}_sum"}
            if kind == "histogram":
                names.add(f"{family}_bucket")
    return names


@pytest.fixture(scope="session")
def broker_metrics(test_stack: Stack) -> set[str]:
    """The metric names the running Kafka broker's JMX exporter lists."""
    url = test_stack.kafka.metrics_url
    assert url, f"profile {test_stack.profile.name} has no kafka_metrics_port"
    try:
        return _listed_metrics(url)
    except httpx.ConnectError:
        name = test_stack.profile.name
        pytest.fail(
            f"nothing serves {url}: a broker started before it had its metrics agent keeps "
            f"running without it; restart the stack (`python -m devstack down --profile {name}`, "
            "then up)"
        )


@pytest.fixture(scope="session")
def exported_metrics(test_stack: Stack, broker_metrics: set[str]) -> dict[str, set[str]]:
    """Metric name → the running scrape targets (services, and `kafka`, the broker) listing it."""
    exported: dict[str, set[str]] = {name: {"kafka"} for name in broker_metrics}
    for service in test_stack.service_names:
        for name in _listed_metrics(f"{test_stack.service(service).url}/metrics"):
            exported.setdefault(name, set()).add(service)
    return exported


@pytest.fixture(scope="session")
def kafka_broker_panels(all_dashboards: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The panels of the event pipeline's "Kafka broker" row (those after it, up to the next)."""
    panels = all_dashboards["event-pipeline.json"]["panels"]
    rows = [i for i, panel in enumerate(panels) if panel["type"] == "row"]
    (start,) = [i for i in rows if panels[i]["title"] == "Kafka broker"]
    end = next((i for i in rows if i > start), len(panels))
    return panels[start + 1 : end]


@pytest.fixture(scope="session")
def observed(test_stack: Stack) -> Stack:
    """The test stack, which must run its Prometheus and Jaeger."""
    if not (test_stack.prometheus.is_ready() and test_stack.jaeger.is_ready()):
        pytest.fail(
            f"the {test_stack.profile.name} stack runs without Prometheus and Jaeger: start it "
            f"with `FLOTILLA_OBS=1 python -m devstack up --profile {test_stack.profile.name}` "
            "(make test does)"
        )
    return test_stack
