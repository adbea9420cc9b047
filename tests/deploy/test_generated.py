"""The chart's copy of the route table and topic file, and deploy/k8s, are generated and fresh."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devstack.charts import PLATFORM_FILE, expected_files, main, stale_files
from devstack.profiles import REPO_ROOT


def test_generated_files_are_up_to_date(tools: Any) -> None:
    assert stale_files(expected_files(helm=str(tools.helm))) == []


def test_platform_copy_lists_the_expanded_topics() -> None:
    platform = yaml.safe_load(PLATFORM_FILE.read_text())
    names = {topic["name"] for topic in platform["topics"]}
    for group in platform["groups"]:
        assert {*group["retryTopics"], group["dlqTopic"]} <= names


def test_a_changed_route_table_makes_the_copy_stale(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    source = (REPO_ROOT / "deploy" / "routes.yaml").read_text()
    routes.write_text(source + "  - service: ledger\n    prefix: /ledger\n")
    problems = stale_files(expected_files(routes_file=routes))
    assert problems == ["deploy/helm/flotilla/files/platform.yaml is stale"]


def test_check_command_names_stale_files(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    topics = tmp_path / "topics.yaml"
    text = (REPO_ROOT / "deploy" / "topics.yaml").read_text()
    topics.write_text(text.replace("partitions: 3", "partitions: 6", 1))
    monkeypatch.setenv("FLOTILLA_TOPICS_FILE", str(topics))
    assert main(["check"]) == 1
    assert "platform.yaml is stale" in capsys.readouterr().err
