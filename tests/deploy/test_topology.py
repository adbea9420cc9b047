"""The route table and the topic file agree with the services on disk, the umbrella's values and
what each service's code serves and consumes (its app built from the chart's own settings)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Route

from contracts.topology import load_topology
from devstack.profiles import REPO_ROOT
from devstack.routes import load_routes
from servicekit import ServiceApp
from servicekit.auth.keys import write_new_signing_key
from servicekit.events.consumer import EventConsumer
from servicekit.settings import load_settings

Object = dict[str, Any]
UMBRELLA_VALUES = REPO_ROOT / "deploy" / "helm" / "flotilla" / "values.yaml"
SERVICES = sorted(
    p.name for p in (REPO_ROOT / "services").iterdir() if (p / "pyproject.toml").exists()
)


@pytest.fixture(scope="module")
def umbrella_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(UMBRELLA_VALUES.read_text())
    return values


def test_every_route_names_a_service_on_disk() -> None:
    assert {route.service for route in load_routes()} <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_service_is_routed_and_installed_by_the_umbrella(
    service: str, umbrella_values: dict[str, Any]
) -> None:
    # An internal service is not served under a gateway prefix: its root path is empty.
    routes = {r.service: r.prefix if r.public else "" for r in load_routes()}
    assert service in routes, f"deploy/routes.yaml has no route for {service}"
    values = umbrella_values.get(service)
    assert values is not None, f"the umbrella's values.yaml does not install {service}"
    assert values["service"] == service
    assert values["rootPath"] == routes[service]
    assert service in umbrella_values["global"]["flotilla"]["services"]


# A well-formed stand-in for each secret file a chart's `secretFiles` mounts.
_SECRET_FILES = {
    "api_keys": '{"acct_flotilla": "sk_test_' + "x" * 32 + '"}',
    "psp_api_key": "sk_test_" + "x" * 32,
    "smtp_username": "not-used",
    "smtp_password": "not-used",
}


def _secret_files(deployment: Object) -> list[str]:
    """The files of the Deployment's projected secrets volume (SECRETS_DIR)."""
    return [
        item["path"]
        for volume in deployment["spec"]["template"]["spec"]["volumes"]
        for source in volume.get("projected", {}).get("sources", [])
        for item in source.get("secret", {}).get("items", [])
    ]


def _service_environment(config_map: Object, deployment: Object, folder: Path) -> dict[str, str]:
    """What the Deployment gives the process: its ConfigMap, plus files for the secrets."""
    secrets = folder / "secrets"
    secrets.mkdir()
    name = config_map["data"]["SERVICE_NAME"]
    for file in _secret_files(deployment):
        # The database URL and the Kafka files are written below, with their own contents.
        if file not in {"database_url", "kafka_password", "kafka_ca.crt"}:
            (secrets / file).write_text(_SECRET_FILES[file])
    (secrets / "database_url").write_text(
        f"postgresql+asyncpg://{name}:not-used@127.0.0.1:1/flotilla"
    )
    env = {**config_map["data"], "SECRETS_DIR": str(secrets)}
    # The projected volume's Kafka files (Strimzi's user password, the cluster CA), at the same
    # names under this folder: the app reads them when it is built.
    for setting, file in (
        ("KAFKA_SASL_PASSWORD_FILE", "kafka_password"),
        ("KAFKA_SSL_CA_FILE", "kafka_ca.crt"),
    ):
        if setting in env:
            (secrets / file).write_text("not-used\n")
            env[setting] = str(secrets / file)
    if "JWT_KEYS_DIR" in env:
        write_new_signing_key(folder / "jwt", "key-1.pem")
        env["JWT_KEYS_DIR"] = str(folder / "jwt")
    return env


@pytest.fixture(scope="module")
def apps(
    helm_template: Callable[..., list[Object]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, FastAPI]:
    """Each service's app, built (never started) from the settings the chart renders."""
    objects = helm_template()
    config_maps = {
        o["data"]["SERVICE_NAME"]: o
        for o in objects
        if o["kind"] == "ConfigMap" and "SERVICE_NAME" in o.get("data", {})
    }
    deployments = {
        o["metadata"]["labels"]["app.kubernetes.io/name"]: o
        for o in objects
        if o["kind"] == "Deployment"
    }
    built = {}
    with pytest.MonkeyPatch.context() as patch:
        for service in SERVICES:
            env = _service_environment(
                config_maps[service], deployments[service], tmp_path_factory.mktemp(service)
            )
            for key, value in env.items():
                patch.setenv(key, value)
            app = ServiceApp.from_package(service)
            built[service] = app.build_app(load_settings(app.settings_type))
            for key in env:
                patch.delenv(key)
    return built


def _paths(app: FastAPI) -> set[str]:
    return {r.path for r in app.routes if isinstance(r, APIRoute | Route)}


@pytest.mark.parametrize("service", SERVICES)
def test_chart_probes_and_scrapes_paths_the_service_serves(
    service: str, apps: dict[str, FastAPI], helm_template: Callable[..., list[Object]]
) -> None:
    objects = helm_template()
    deployment = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == service
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    probed = {
        container[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    monitor = next(
        o for o in objects if o["kind"] == "ServiceMonitor" and o["metadata"]["name"] == service
    )
    scraped = {endpoint["path"] for endpoint in monitor["spec"]["endpoints"]}
    assert probed | scraped <= _paths(apps[service])
    assert all(
        not path.startswith(apps[service].root_path + "/")
        for path in _paths(apps[service])
        if apps[service].root_path
    )


def test_jwks_url_the_chart_gives_is_served_by_identity(
    apps: dict[str, FastAPI], umbrella_values: dict[str, Any]
) -> None:
    jwks = urlparse(umbrella_values["global"]["flotilla"]["jwt"]["jwksUrl"])
    assert jwks.hostname == "identity"
    assert jwks.path in _paths(apps["identity"])


def _consumers(app: FastAPI) -> list[EventConsumer]:
    """A consuming service registers its consumer's readiness probe (servicekit's pattern)."""
    probes = [getattr(check.probe, "__self__", None) for check in app.state.health.checks]
    return [owner for owner in probes if isinstance(owner, EventConsumer)]


@pytest.mark.parametrize("service", SERVICES)
def test_consumer_groups_and_topics_match_the_topic_file(
    service: str, apps: dict[str, FastAPI]
) -> None:
    topology = load_topology()
    groups = {group.name: group for group in topology.groups}
    consumers = _consumers(apps[service])
    if service not in groups:
        assert consumers == [], f"{service} consumes but deploy/topics.yaml declares no group"
        return
    assert [c.group for c in consumers] == [service]
    consumer, group = consumers[0], groups[service]
    assert consumer.topics == group.subscribes
    assert tuple(consumer.policy.retry_delays_s) == group.retry_delays_s
    assert consumer.retry_topics == group.retry_topics
    assert consumer.dlq_topic == group.dlq_topic
    # A handler for an event on a topic the group does not read would never run.
    assert consumer.registry.topics <= set(group.subscribes)
    declared = {topic.name for topic in topology.topics}
    assert set(consumer.topics) <= declared


def test_published_topics_are_owned_by_services_on_disk() -> None:
    owners = {topic.owner for topic in load_topology().topics}
    assert owners <= set(SERVICES), json.dumps(sorted(owners))
