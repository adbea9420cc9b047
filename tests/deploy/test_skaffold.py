"""skaffold.yaml against skaffold's published JSON schema, and what it builds and deploys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from devstack.profiles import REPO_ROOT

SKAFFOLD = REPO_ROOT / "skaffold.yaml"


@pytest.fixture(scope="module")
def skaffold_schema(tools: Any) -> jsonschema.Draft7Validator:
    config = yaml.safe_load(SKAFFOLD.read_text())
    version = config["apiVersion"].split("/")[1]
    path: Path = tools.crds / f"skaffold-{version}.json"
    assert path.exists(), f"no schema for {config['apiVersion']} (make deploy-tools fetches one)"
    return jsonschema.Draft7Validator(json.loads(path.read_text()))


def _errors(validator: jsonschema.Draft7Validator, config: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(config)]


def test_skaffold_yaml_matches_its_schema(skaffold_schema: jsonschema.Draft7Validator) -> None:
    assert _errors(skaffold_schema, yaml.safe_load(SKAFFOLD.read_text())) == []


def test_an_unknown_key_fails_the_schema(skaffold_schema: jsonschema.Draft7Validator) -> None:
    config = yaml.safe_load(SKAFFOLD.read_text())
    config["deploy"]["helm"]["releases"][0]["chart_path"] = "deploy/helm/flotilla"
    assert _errors(skaffold_schema, config) != []


def test_one_artifact_per_service_and_profiles_dev_and_prod() -> None:
    config = yaml.safe_load(SKAFFOLD.read_text())
    services = {
        p.name for p in (REPO_ROOT / "services").iterdir() if (p / "pyproject.toml").exists()
    }
    built = config["build"]["artifacts"]
    artifacts = {
        a["docker"]["buildArgs"]["SERVICE"]: a["image"]
        for a in built
        if a["docker"].get("target", "service") == "service"
    }
    assert set(artifacts) == services
    assert all(image == f"flotilla/{name}" for name, image in artifacts.items())
    release = config["deploy"]["helm"]["releases"][0]
    assert release["chartPath"] == "deploy/helm/flotilla"
    for name in artifacts:
        assert f"{name}.image.tag" in release["setValueTemplates"]
    # The load generator: the Dockerfile's stage of that name, with the devstack package.
    (generator,) = [a for a in built if a["docker"].get("target") == "load-generator"]
    assert generator["image"] == "flotilla/load-generator"
    assert generator["docker"]["buildArgs"] == {
        "SERVICE": "devstack",
        "PACKAGE_DIR": "libs/devstack",
    }
    assert "flotilla_load_generator" in release["setValueTemplates"]["loadGenerator.image"]
    profiles = {p["name"]: p for p in config["profiles"]}
    assert set(profiles) == {"dev", "prod"}
    dev = profiles["dev"]["patches"][0]["value"]
    assert dev["valuesFiles"] == ["deploy/helm/flotilla/values-dev.yaml"]
    assert any(f["resourceName"] == "flotilla-gateway" for f in profiles["dev"]["portForward"])
