"""The chart's copies of the route table, the topic file and deploy/observability, and
deploy/k8s, are generated and fresh."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from devstack.charts import PLATFORM_FILE, expected_files, main, orphaned_files, stale_files
from devstack.observability_copies import COPY_DIR, OBSERVABILITY_DIR, orphaned_copies
from devstack.profiles import REPO_ROOT


def test_generated_files_are_up_to_date(tools: Any) -> None:
    files = expected_files(helm=str(tools.helm))
    assert stale_files(files) == []
    assert orphaned_files(files) == []


def test_platform_copy_lists_the_expanded_topics() -> None:
    platform = yaml.safe_load(PLATFORM_FILE.read_text())
    names = {topic["name"] for topic in platform["topics"]}
    for group in platform["groups"]:
        assert {*group["retryTopics"], group["dlqTopic"]} <= names


def test_a_changed_route_table_makes_the_copy_stale(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    source = (REPO_ROOT / "deploy" / "routes.yaml").read_text()
    routes.write_text(source + "  - service: ledger\n    prefix: /ledger\n    exposure: public\n")
    problems = stale_files(expected_files(routes_file=routes))
    assert problems == ["deploy/helm/flotilla/files/platform.yaml is stale"]


def test_check_command_names_stale_files(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    topics = tmp_path / "topics.yaml"
    text = (REPO_ROOT / "deploy" / "topics.yaml").read_text()
    topics.write_text(text.replace("partitions: 3", "partitions: 6", 1))
    monkeypatch.setenv("FLOTILLA_TOPICS_FILE", str(topics))
    assert main(["check"]) == 1
    assert "platform.yaml is stale" in capsys.readouterr().err


def test_the_chart_ships_dashboards_datasources_and_rules_but_not_rule_tests() -> None:
    copies = {f.path.relative_to(COPY_DIR).parts[0] for f in expected_files()[1:]}
    assert copies == {"dashboards", "grafana", "rules"}
    assert not [f for f in expected_files() if "tests" in f.path.relative_to(REPO_ROOT).parts]


def test_a_changed_dashboard_makes_its_copy_stale(tmp_path: Path) -> None:
    source = tmp_path / "observability"
    shutil.copytree(OBSERVABILITY_DIR, source)
    dashboard = source / "dashboards" / "service.json"
    dashboard.write_text(dashboard.read_text().replace('"editable": true', '"editable": false'))
    problems = stale_files(expected_files(observability_dir=source))
    assert problems == ["deploy/helm/flotilla/files/observability/dashboards/service.json is stale"]


def test_a_copy_without_a_source_is_an_orphan(tmp_path: Path) -> None:
    kept, gone = tmp_path / "rules" / "slo.yaml", tmp_path / "rules" / "renamed.yaml"
    kept.parent.mkdir()
    kept.write_text("groups: []\n")
    gone.write_text("groups: []\n")
    assert orphaned_copies([kept], copy_dir=tmp_path) == [gone]
