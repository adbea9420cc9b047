"""The Helm charts lint, render and validate strictly for the default, dev and prod values."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from contracts.manifest import load_manifests
from devstack.charts import KUBE_VERSION
from devstack.profiles import REPO_ROOT
from servicekit.observability.sampling import SAMPLERS, trace_sampler

Object = dict[str, Any]
Tools = Any  # the `tools` fixture (conftest.py)
UMBRELLA = REPO_ROOT / "deploy" / "helm" / "flotilla"
SERVICE_CHART = REPO_ROOT / "deploy" / "helm" / "service"

VALUES = [(), ("values-dev.yaml",), ("values-prod.yaml",)]
MANIFESTS = load_manifests(REPO_ROOT / "services")
SERVICES = [manifest.name for manifest in MANIFESTS]
PRODUCTION = {manifest.name for manifest in MANIFESTS if manifest.production}
PER_SERVICE_KINDS = {
    "Deployment", "Service", "ServiceAccount", "ConfigMap", "HorizontalPodAutoscaler",
    "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "Job",
}  # fmt: skip


@pytest.mark.parametrize("values", VALUES, ids=["default", "dev", "prod"])
def test_umbrella_lints_with_each_values_file(tools: Tools, values: tuple[str, ...]) -> None:
    argv: list[Any] = [tools.helm, "lint", UMBRELLA, "--strict", "--kube-version", KUBE_VERSION]
    for file in values:
        argv += ["-f", UMBRELLA / file]
    result = tools.run(*argv)
    assert result.returncode == 0, result.stdout + result.stderr


def test_service_chart_lints_on_its_own(tools: Tools) -> None:
    result = tools.run(
        tools.helm, "lint", SERVICE_CHART, "--strict", "--kube-version", KUBE_VERSION,
        "--set", "service=orders",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", VALUES, ids=["default", "dev", "prod"])
def test_every_rendered_object_is_valid(
    helm_template: Callable[..., list[Object]],
    validate: Callable[[list[Object]], list[str]],
    values: tuple[str, ...],
) -> None:
    objects = helm_template(values=values)
    assert objects
    assert validate(objects) == []


def test_service_chart_alone_renders_valid_objects(
    helm_template: Callable[..., list[Object]], validate: Callable[[list[Object]], list[str]]
) -> None:
    objects = helm_template(SERVICE_CHART, sets=["service=identity", "image.tag=1.4.2"])
    assert validate(objects) == []
    images = {c["image"] for o in objects if o["kind"] == "Deployment"
              for c in o["spec"]["template"]["spec"]["containers"]}  # fmt: skip
    assert images == {"flotilla/identity:1.4.2"}


def test_umbrella_defaults_give_each_service_its_objects(
    helm_template: Callable[..., list[Object]],
) -> None:
    objects = helm_template()
    for service in SERVICES:
        own = {o["kind"] for o in objects if _service_of(o) == service}
        assert own >= PER_SERVICE_KINDS, f"{service} lacks {PER_SERVICE_KINDS - own}"
        migration = [o for o in objects if o["kind"] == "Job" and _service_of(o) == service]
        hooks = migration[0]["metadata"]["annotations"]["helm.sh/hook"]
        assert hooks == "pre-install,pre-upgrade"
        args = migration[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args == ["bootstrap", "--wait-for-database", "180"]
        deployment = next(
            o for o in objects if o["kind"] == "Deployment" and _service_of(o) == service
        )
        assert "initContainers" not in deployment["spec"]["template"]["spec"]
    assert {o["kind"] for o in objects} >= {"HTTPRoute", "KafkaTopic"}


def test_dev_values_migrate_in_each_pod_with_the_jobs_container(
    helm_template: Callable[..., list[Object]],
) -> None:
    """`migration.mode: initContainer` (values-dev.yaml): no Job, and each Deployment's init
    container is the container the hook Job runs (svc.migrationContainer)."""
    dev = helm_template(values=["values-dev.yaml"])
    hook = helm_template(
        values=["values-dev.yaml"], sets=[f"{service}.migration.mode=hook" for service in SERVICES]
    )
    for service in SERVICES:
        assert not [o for o in dev if o["kind"] == "Job" and _service_of(o) == service]
        job = next(o for o in hook if o["kind"] == "Job" and _service_of(o) == service)
        deployment = next(o for o in dev if o["kind"] == "Deployment" and _service_of(o) == service)
        (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert init["name"] == container["name"] == "bootstrap"
        assert init["args"] == container["args"]
        assert init == container


def test_an_unknown_migration_mode_is_refused(tools: Tools) -> None:
    result = tools.run(
        tools.helm, "template", "x", SERVICE_CHART, "--set", "service=identity",
        "--set", "migration.mode=sometimes",
    )  # fmt: skip
    assert result.returncode != 0
    assert "/migration/mode" in result.stderr, result.stderr


def test_one_image_tag_changes_only_that_services_objects(
    helm_template: Callable[..., list[Object]],
) -> None:
    before = {_key(o): o for o in helm_template()}
    after = {_key(o): o for o in helm_template(sets=["orders.image.tag=2.0.1"])}
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert changed
    assert {_service_of(before.get(k) or after[k]) for k in changed} == {"orders"}


def test_no_secret_value_is_ever_rendered(helm_template: Callable[..., list[Object]]) -> None:
    for values in VALUES:
        objects = helm_template(values=values)
        assert not [o for o in objects if o["kind"] == "Secret"]
        text = yaml.safe_dump_all(objects)
        assert "DATABASE_URL: " not in text
        assert "postgresql+asyncpg://" not in text


def test_the_values_schema_refuses_a_mutable_tag(tools: Tools) -> None:
    result = tools.run(
        tools.helm, "lint", UMBRELLA, "--kube-version", KUBE_VERSION,
        "--set", "orders.image.tag=latest",
    )  # fmt: skip
    assert result.returncode != 0
    assert "/orders/image/tag" in result.stdout + result.stderr or "tag" in result.stdout


def test_schema_validation_reports_an_unknown_field(
    helm_template: Callable[..., list[Object]], validate: Callable[[list[Object]], list[str]]
) -> None:
    objects = copy.deepcopy(helm_template())
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    route = next(o for o in objects if o["kind"] == "HTTPRoute")
    route["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Prefix"
    problems = validate([deployment, route])
    assert any(f"Deployment/{deployment['metadata']['name']}" in p and "livenessProbes" in p
               for p in problems), problems  # fmt: skip
    assert any(f"HTTPRoute/{route['metadata']['name']}" in p for p in problems), problems


def _key(obj: Object) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _service_of(obj: Object) -> str | None:
    labels: dict[str, str] = obj["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/name")


def _service_configs(objects: list[Object]) -> dict[str, dict[str, str]]:
    return {
        o["data"]["SERVICE_NAME"]: o["data"]
        for o in objects
        if o["kind"] == "ConfigMap" and "SERVICE_NAME" in o.get("data", {})
    }


def test_traces_go_to_the_collector_over_otlp_http_sampled_as_the_values_say(
    helm_template: Callable[..., list[Object]],
) -> None:
    """servicekit exports spans with the OTLP/HTTP exporter (`<endpoint>/v1/traces`), so the
    collector's HTTP port 4318 — its gRPC port 4317 would refuse every batch."""
    default = _service_configs(helm_template())
    prod = _service_configs(helm_template(values=["values-prod.yaml"]))
    # 0 is falsy to Helm's templates: it must still reach the services as "0", not vanish.
    sets = ["global.flotilla.tracesSampler=traceidratio", "global.flotilla.tracesSamplerArg=0"]
    unsampled = _service_configs(helm_template(sets=sets))
    assert set(prod) == PRODUCTION  # a simulator (psp) never runs in prod
    assert "psp" not in PRODUCTION
    for service in SERVICES:
        assert default[service]["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"
        assert "OTEL_TRACES_SAMPLER_ARG" not in default[service]
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in default[service]
    for service in prod:
        assert prod[service]["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4318")
        assert prod[service]["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert prod[service]["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
        assert unsampled[service]["OTEL_TRACES_SAMPLER"] == "traceidratio"
        assert unsampled[service]["OTEL_TRACES_SAMPLER_ARG"] == "0"
        assert not any(key.endswith("SAMPLER_RATIO") for key in prod[service])


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_standard_sampler_renders_what_the_services_accept(
    helm_template: Callable[..., list[Object]], sampler: str
) -> None:
    sets = [f"global.flotilla.tracesSampler={sampler}"]
    if sampler.endswith("traceidratio"):
        sets.append("global.flotilla.tracesSamplerArg=0.25")
    for config in _service_configs(helm_template(sets=sets)).values():
        assert config["OTEL_TRACES_SAMPLER"] == sampler
        trace_sampler(config["OTEL_TRACES_SAMPLER"], config.get("OTEL_TRACES_SAMPLER_ARG"))


@pytest.mark.parametrize(
    ("sets", "reason"),
    [
        (["global.flotilla.tracesSampler=sometimes"], "tracesSampler"),
        (["global.flotilla.tracesSamplerArg=1.5"], "tracesSamplerArg"),
        (["global.flotilla.tracesSamplerArg=a tenth"], "tracesSamplerArg"),
        (
            ["global.flotilla.tracesSamplerArg=0.1"],
            "only read by the traceidratio and parentbased_traceidratio samplers, "
            "not by parentbased_always_on",
        ),
    ],
)
def test_a_sampler_the_services_would_refuse_fails_to_render(
    tools: Tools, sets: list[str], reason: str
) -> None:
    argv: list[Any] = [tools.helm, "template", "flotilla", UMBRELLA]
    result = tools.run(*argv, *(a for s in sets for a in ("--set", s)))
    assert result.returncode != 0
    assert reason in result.stderr, result.stderr
