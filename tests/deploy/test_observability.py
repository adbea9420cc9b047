"""The umbrella chart ships deploy/observability: a Grafana sidecar ConfigMap per dashboard and
one for the data sources, and a PrometheusRule per rule file whose groups are that file's."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.observability_copies import OBSERVABILITY_DIR
from devstack.profiles import REPO_ROOT

Object = dict[str, Any]
Render = Callable[..., list[Object]]
UMBRELLA = REPO_ROOT / "deploy" / "helm" / "flotilla"
RULE_FILES = sorted((OBSERVABILITY_DIR / "rules").glob("*.yaml"))
DASHBOARDS = sorted((OBSERVABILITY_DIR / "dashboards").glob("*.json"))
# values-dev.yaml has no Prometheus operator to serve PrometheusRules (like its ServiceMonitors).
WITH_RULES = [(), ("values-prod.yaml",)]
VALUES = [(), ("values-dev.yaml",), ("values-prod.yaml",)]
BASE_URL = "https://runbooks.example.test/flotilla/blob/v1.4.2/"
ONE_MIB = 1024 * 1024


@pytest.fixture(scope="session")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is not installed: `make obs-tools` installs Debian's prometheus")
    return found


def _kind(objects: list[Object], kind: str) -> dict[str, Object]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _rules(objects: list[Object]) -> dict[str, Object]:
    return _kind(objects, "PrometheusRule")


def _labelled(objects: list[Object], label: str) -> dict[str, Object]:
    """The ConfigMaps a Grafana sidecar watching `label` picks up."""
    config_maps = _kind(objects, "ConfigMap").items()
    return {name: o for name, o in config_maps if label in o["metadata"]["labels"]}


def _dashboards(objects: list[Object]) -> dict[str, Object]:
    return _labelled(objects, "grafana_dashboard")


def _datasources(objects: list[Object]) -> dict[str, Object]:
    return _labelled(objects, "grafana_datasource")


def _groups(path: Path, runbook_base: str = "") -> list[Any]:
    """The file's groups, each runbook_url behind `runbook_base` (the chart's prefixing)."""
    groups: list[Any] = yaml.safe_load(path.read_text())["groups"]
    for group in groups:
        for notes in (rule.get("annotations", {}) for rule in group["rules"]):
            if "runbook_url" in notes and runbook_base:
                notes["runbook_url"] = runbook_base.rstrip("/") + "/" + notes["runbook_url"]
    return groups


def _runbook_base(values: tuple[str, ...]) -> str:
    files = [yaml.safe_load((UMBRELLA / f).read_text()) for f in values]
    return next((str(f["observability"]["runbookBaseUrl"]) for f in files), "")


@pytest.mark.parametrize("values", WITH_RULES, ids=["default", "prod"])
def test_each_rule_file_is_one_prometheus_rule_with_its_groups(
    helm_template: Render, values: tuple[str, ...]
) -> None:
    rules = _rules(helm_template(values=values))
    assert sorted(rules) == [f"flotilla-{path.stem}" for path in RULE_FILES]
    for path in RULE_FILES:
        expected = _groups(path, _runbook_base(values))
        assert rules[f"flotilla-{path.stem}"]["spec"]["groups"] == expected, path.name


def test_dev_values_render_no_prometheus_rule(helm_template: Render) -> None:
    assert _rules(helm_template(values=["values-dev.yaml"])) == {}


def test_prometheus_templates_in_annotations_reach_prometheus_verbatim(
    helm_template: Render,
) -> None:
    rendered = yaml.safe_dump_all(list(_rules(helm_template()).values()))
    assert "{{ $labels.job }}" in rendered
    assert "{{ $value | humanize }}" in rendered


def test_runbook_base_url_prefixes_each_relative_runbook(helm_template: Render) -> None:
    rules = _rules(helm_template(sets=[f"observability.runbookBaseUrl={BASE_URL}"]))
    for path in RULE_FILES:
        expected = _groups(path, BASE_URL)
        assert rules[f"flotilla-{path.stem}"]["spec"]["groups"] == expected, path.name
    urls = [r["annotations"]["runbook_url"] for o in rules.values() for g in o["spec"]["groups"]
            for r in g["rules"] if "alert" in r]  # fmt: skip
    assert urls
    assert all(url.startswith(BASE_URL + "docs/runbooks/Flotilla") for url in urls)


def test_prod_values_make_every_runbook_link_absolute(helm_template: Render) -> None:
    prod = yaml.safe_load((UMBRELLA / "values-prod.yaml").read_text())["observability"]
    assert prod["requireRunbookBaseUrl"] is True
    base = prod["runbookBaseUrl"].rstrip("/") + "/docs/runbooks/Flotilla"
    rules = _rules(helm_template(values=["values-prod.yaml"]))
    urls = [r["annotations"]["runbook_url"] for o in rules.values() for g in o["spec"]["groups"]
            for r in g["rules"] if "alert" in r]  # fmt: skip
    assert urls
    assert all(url.startswith(base) for url in urls)


@pytest.mark.parametrize(
    "sets", [["observability.runbookBaseUrl="], ["observability.runbookBaseUrl=null"]]
)
def test_prod_values_without_a_runbook_base_url_fail_to_render(tools: Any, sets: list[str]) -> None:
    argv: list[Any] = [tools.helm, "template", "flotilla", UMBRELLA]
    argv += ["-f", UMBRELLA / "values-prod.yaml", *(a for s in sets for a in ("--set", s))]
    result = tools.run(*argv)
    assert result.returncode != 0
    assert "observability.runbookBaseUrl is required" in result.stderr, result.stderr


def test_the_requirement_holds_only_where_alerts_are_shipped(helm_template: Render) -> None:
    """Without PrometheusRules no link is rendered, so none needs a base."""
    sets = ["observability.requireRunbookBaseUrl=true", "observability.rules.enabled=false"]
    assert _rules(helm_template(sets=sets)) == {}


def test_rule_labels_from_values_let_a_rule_selector_pick_them(helm_template: Render) -> None:
    rules = _rules(helm_template(values=["values-prod.yaml"]))
    assert {o["metadata"]["labels"].get("release") for o in rules.values()} == {
        "kube-prometheus-stack"
    }


@pytest.mark.parametrize("values", WITH_RULES, ids=["default", "prod"])
def test_every_prometheus_rule_validates_against_the_crd(
    helm_template: Render,
    validate: Callable[[list[Object]], list[str]],
    values: tuple[str, ...],
) -> None:
    rules = list(_rules(helm_template(values=values)).values())
    assert rules
    assert validate(rules) == []
    broken = copy.deepcopy(rules[0])
    broken["spec"]["groups"][0]["rules"][0]["expression"] = "up"
    assert any(f"PrometheusRule/{broken['metadata']['name']}" in p for p in validate([broken]))


def test_promtool_accepts_the_groups_of_each_rendered_rule(
    helm_template: Render, promtool: str, tmp_path: Path
) -> None:
    rendered = _rules(helm_template(sets=[f"observability.runbookBaseUrl={BASE_URL}"]))
    files = []
    for name, rule in sorted(rendered.items()):
        files.append(tmp_path / f"{name}.yaml")
        files[-1].write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = subprocess.run(
        [promtool, "check", "rules", *map(str, files)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", VALUES, ids=["default", "dev", "prod"])
def test_each_dashboard_is_a_sidecar_config_map_holding_its_json(
    helm_template: Render, values: tuple[str, ...]
) -> None:
    dashboards = _dashboards(helm_template(values=values))
    assert sorted(dashboards) == [f"flotilla-dashboard-{path.stem}" for path in DASHBOARDS]
    for path in DASHBOARDS:
        config_map = dashboards[f"flotilla-dashboard-{path.stem}"]
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "Flotilla"}
        (text,) = config_map["data"].values()
        assert json.loads(text) == json.loads(path.read_text()), path.name
        assert len(json.dumps(config_map).encode()) < ONE_MIB, f"{path.name} exceeds 1 MiB"


def test_dashboard_label_and_folder_come_from_values(helm_template: Render) -> None:
    sets = ["observability.dashboards.label=dashboards", "observability.dashboards.labelValue=on",
            "observability.dashboards.folderAnnotation=k8s-sidecar-target-directory",
            "observability.dashboards.folder=/var/lib/grafana/dashboards/Shop"]  # fmt: skip
    config_maps = _kind(helm_template(sets=sets), "ConfigMap")
    dashboards = [o for name, o in config_maps.items() if name.startswith("flotilla-dashboard-")]
    assert len(dashboards) == len(DASHBOARDS)
    for config_map in dashboards:
        assert config_map["metadata"]["labels"]["dashboards"] == "on"
        assert "grafana_dashboard" not in config_map["metadata"]["labels"]
        folder = {"k8s-sidecar-target-directory": "/var/lib/grafana/dashboards/Shop"}
        assert config_map["metadata"]["annotations"] == folder


def test_datasources_config_map_carries_the_sidecar_label(helm_template: Render) -> None:
    (config_map,) = _datasources(helm_template()).values()
    assert config_map["metadata"]["labels"]["grafana_datasource"] == "1"
    (text,) = config_map["data"].values()
    source = OBSERVABILITY_DIR / "grafana" / "datasources.yaml"
    assert yaml.safe_load(text) == yaml.safe_load(source.read_text())


# What kube-prometheus-stack's Grafana provisions from its own ConfigMap
# (`<release>-kube-prometheus-stack-grafana-datasource`, key `datasource.yaml`).
KUBE_PROMETHEUS_STACK = {
    "config_map": "kube-prometheus-stack-grafana-datasource",
    "key": "datasource.yaml",
    "datasources": [
        {"name": "Prometheus", "uid": "prometheus", "type": "prometheus", "isDefault": True},
        {"name": "Alertmanager", "uid": "alertmanager", "type": "alertmanager"},
    ],
}


@pytest.mark.parametrize("values", VALUES, ids=["default", "dev", "prod"])
def test_datasources_coexist_with_kube_prometheus_stacks(
    helm_template: Render, values: tuple[str, ...]
) -> None:
    """Grafana refuses to start when two provisioned data sources are default ("Only one
    datasource per organization can be marked as default") and overwrites one of two with the
    same uid: ours are never default, and name, uid, ConfigMap and key are Flotilla's own."""
    ((name, config_map),) = _datasources(helm_template(values=values)).items()
    (key, text) = next(iter(config_map["data"].items()))
    assert name != KUBE_PROMETHEUS_STACK["config_map"]
    assert key != KUBE_PROMETHEUS_STACK["key"]
    ours = yaml.safe_load(text)["datasources"]
    assert [d.get("isDefault", False) for d in ours] == [False] * len(ours)
    assert all(d["uid"].startswith("flotilla-") for d in ours)
    assert all(d["name"].startswith("Flotilla ") for d in ours)
    both = [*ours, *KUBE_PROMETHEUS_STACK["datasources"]]
    assert sum(bool(d.get("isDefault")) for d in both) == 1
    assert len({d["uid"] for d in both}) == len({d["name"] for d in both}) == len(both)


def test_datasources_link_each_other_by_their_own_uids(helm_template: Render) -> None:
    """Exemplars open traces, traces open metrics: each link names a uid this file provides."""
    (config_map,) = _datasources(helm_template()).values()
    (text,) = config_map["data"].values()
    datasources = yaml.safe_load(text)["datasources"]
    uids = {d["uid"] for d in datasources}
    linked = [link["datasourceUid"] for d in datasources
              for link in d["jsonData"].get("exemplarTraceIdDestinations", [])]  # fmt: skip
    linked += [d["jsonData"]["tracesToMetrics"]["datasourceUid"]
               for d in datasources if "tracesToMetrics" in d["jsonData"]]  # fmt: skip
    assert linked
    assert set(linked) <= uids


def test_dashboards_query_flotillas_prometheus_by_its_uid(helm_template: Render) -> None:
    """The dashboards' `datasource` variable starts on the shipped Prometheus's uid (a user may
    pick another), and every query goes through that variable."""
    objects = helm_template()
    (config_map,) = _datasources(objects).values()
    (text,) = config_map["data"].values()
    (prometheus,) = [d for d in yaml.safe_load(text)["datasources"] if d["type"] == "prometheus"]
    for dashboard_map in _dashboards(objects).values():
        (dashboard_text,) = dashboard_map["data"].values()
        dashboard = json.loads(dashboard_text)
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["current"]["value"] == prometheus["uid"]
        refs = [p.get("datasource") for p in dashboard["panels"]]
        refs += [t.get("datasource") for p in dashboard["panels"] for t in p.get("targets", [])]
        refs += [v.get("datasource") for v in variables.values()]
        assert {r["uid"] for r in refs if r} == {"${datasource}"}


def test_datasource_urls_come_from_values(helm_template: Render) -> None:
    sets = ["observability.datasources.prometheusUrl=http://prometheus.monitoring:9090",
            "observability.datasources.jaegerUrl=http://jaeger.tracing:16686"]  # fmt: skip
    (config_map,) = _datasources(helm_template(sets=sets)).values()
    (text,) = config_map["data"].values()
    urls = {ds["type"]: ds["url"] for ds in yaml.safe_load(text)["datasources"]}
    assert urls == {
        "prometheus": "http://prometheus.monitoring:9090",
        "jaeger": "http://jaeger.tracing:16686",
    }


@pytest.mark.parametrize("toggle", ["dashboards", "datasources", "rules"])
def test_disabling_a_toggle_removes_only_its_objects(helm_template: Render, toggle: str) -> None:
    select = {"dashboards": _dashboards, "datasources": _datasources, "rules": _rules}[toggle]
    before = helm_template()
    after = helm_template(sets=[f"observability.{toggle}.enabled=false"])
    assert select(before)
    assert select(after) == {}
    assert {_key(o) for o in before} - {_key(o) for o in after} == {
        _key(o) for o in select(before).values()
    }
    assert {_key(o) for o in after} <= {_key(o) for o in before}


def _key(obj: Object) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]
