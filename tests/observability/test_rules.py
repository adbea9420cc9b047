"""The alert rules: promtool accepts them, each alert fires on a bad series and stays quiet on a
good one (deploy/observability/rules/tests/), and each links a runbook an on-call engineer can
follow."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml

from devstack.profiles import REPO_ROOT
from devstack.routes import load_routes

RULES_DIR = REPO_ROOT / "deploy" / "observability" / "rules"
RUNBOOKS_DIR = REPO_ROOT / "docs" / "runbooks"
RUNBOOK_SECTIONS = ("## What it means", "## Confirm", "## Mitigate", "## Verify recovery")
_JOB_AND_NAMESPACE = re.compile(r'job="(?P<job>[^"]*)".*namespace="(?P<namespace>[^"]*)"')


def _promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=300, check=False
    )


def _rule_tests() -> list[dict[str, Any]]:
    return [
        case
        for path in sorted((RULES_DIR / "tests").glob("*_test.yaml"))
        for case in yaml.safe_load(path.read_text())["tests"]
    ]


def test_promtool_accepts_every_rule_file(promtool: str) -> None:
    files = sorted(path.name for path in RULES_DIR.glob("*.yaml"))
    result = _promtool(promtool, "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_test_passes(promtool: str) -> None:
    files = sorted(f"tests/{path.name}" for path in (RULES_DIR / "tests").glob("*_test.yaml"))
    result = _promtool(promtool, "test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_fires_on_a_bad_series_and_not_on_a_good_one(alert: dict[str, Any]) -> None:
    """Its promtool test expects it for some services and feeds series of others beside them
    (an exact expected list, so any extra alert fails that test)."""
    name = alert["alert"]
    for case in _rule_tests():
        expected = [
            (labels["exp_labels"].get("job"), labels["exp_labels"].get("namespace"))
            for test in case.get("alert_rule_test", [])
            if test["alertname"] == name
            for labels in test.get("exp_alerts") or []
        ]
        fed = {
            (match["job"], match["namespace"])
            for series in case["input_series"]
            if (match := _JOB_AND_NAMESPACE.search(series["series"]))
        }
        if expected and fed - set(expected):
            return
    raise AssertionError(f"{name}: no test where it fires on one series and not on another")


def test_alert_links_its_runbook(alert: dict[str, Any]) -> None:
    name = alert["alert"]
    assert alert["annotations"]["runbook_url"] == f"docs/runbooks/{name}.md"
    runbook = RUNBOOKS_DIR / f"{name}.md"
    assert runbook.exists(), f"{runbook} is missing"
    text = runbook.read_text()
    missing = [section for section in RUNBOOK_SECTIONS if section not in text]
    assert not missing, f"{runbook.name} lacks {missing}"


def test_alert_says_how_bad_and_what(alert: dict[str, Any]) -> None:
    assert alert["labels"]["severity"] in ("page", "ticket")
    assert alert["annotations"]["summary"]
    assert alert["annotations"]["description"]


def test_every_runbook_belongs_to_an_alert(all_alerts: list[dict[str, Any]]) -> None:
    names = {alert["alert"] for alert in all_alerts}
    orphans = [path.name for path in RUNBOOKS_DIR.glob("*.md") if path.stem not in names]
    assert orphans in ([], ["README.md"]), orphans


def test_service_down_watches_every_service_of_the_route_table(
    all_alerts: list[dict[str, Any]],
) -> None:
    (down,) = [alert for alert in all_alerts if alert["alert"] == "FlotillaServiceDown"]
    watched = re.search(r'job=~"([^"]+)"', down["expr"])
    assert watched, down["expr"]
    assert set(watched.group(1).split("|")) == {route.service for route in load_routes()}


def test_each_series_is_recorded_by_one_rule() -> None:
    recorded: list[str] = [
        rule["record"]
        for path in sorted(RULES_DIR.glob("*.yaml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]
    assert len(recorded) == len(set(recorded)), sorted(recorded)
