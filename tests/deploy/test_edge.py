"""What the edge exposes: only the route table's public services get an HTTPRoute, an Ingress
path or a dev gateway location; the payment provider simulator is internal everywhere and off
in prod, where payments calls a configured provider with its key from a Secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devstack.profiles import REPO_ROOT
from devstack.routes import load_routes

Object = dict[str, Any]
VALUES = [(), ("values-dev.yaml",), ("values-prod.yaml",)]
INTERNAL = {route.service for route in load_routes() if not route.public}
PUBLIC = {route.service for route in load_routes() if route.public}


def test_the_route_table_keeps_the_provider_internal() -> None:
    assert "psp" in INTERNAL
    assert {"identity", "catalog", "orders", "payments", "notifications"} <= PUBLIC


@pytest.mark.parametrize("values", VALUES, ids=["default", "dev", "prod"])
def test_only_public_services_get_an_http_route_or_ingress_path(
    helm_template: Callable[..., list[Object]], values: tuple[str, ...]
) -> None:
    # Both kinds of edge on (dev values turn HTTPRoutes off: its own nginx serves the routes).
    objects = helm_template(
        values=values, sets=["gateway.ingress.enabled=true", "gateway.httpRoutes.enabled=true"]
    )
    routed = {
        backend["name"]
        for o in objects
        if o["kind"] == "HTTPRoute"
        for rule in o["spec"]["rules"]
        for backend in rule.get("backendRefs", [])
    }
    assert routed == PUBLIC
    [ingress] = [o for o in objects if o["kind"] == "Ingress"]
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert {p["backend"]["service"]["name"] for p in paths} == PUBLIC
    assert not any(p["path"].startswith("/psp") for p in paths)


def test_every_http_route_drops_trace_context_from_outside(
    helm_template: Callable[..., list[Object]],
) -> None:
    routes = [o for o in helm_template() if o["kind"] == "HTTPRoute"]
    assert routes
    for route in routes:
        for rule in route["spec"]["rules"]:
            if "backendRefs" not in rule:
                continue  # the rule that answers 404 forwards nothing
            modifiers = [f for f in rule["filters"] if f["type"] == "RequestHeaderModifier"]
            assert [m["requestHeaderModifier"]["remove"] for m in modifiers] == [
                ["traceparent", "tracestate", "baggage"]
            ], route["metadata"]["name"]


def test_the_dev_gateway_drops_trace_context_from_outside(
    helm_template: Callable[..., list[Object]],
) -> None:
    conf = _dev_gateway_conf(helm_template)
    for header in ("traceparent", "tracestate", "baggage"):
        assert conf.count(f'proxy_set_header {header} "";') == len(PUBLIC)


ENDPOINTS = ("metrics", "healthz", "readyz", "livez", "version")


def test_every_http_route_answers_a_services_operational_endpoints_itself(
    helm_template: Callable[..., list[Object]],
) -> None:
    for route in [o for o in helm_template() if o["kind"] == "HTTPRoute"]:
        prefix = f"/{route['metadata']['name']}"
        [deny] = [rule for rule in route["spec"]["rules"] if "backendRefs" not in rule]
        assert "filters" not in deny  # no backend, no filter: the Gateway answers 404
        exact = {m["path"]["value"] for m in deny["matches"] if m["path"]["type"] == "Exact"}
        for endpoint in ENDPOINTS:
            assert {f"{prefix}/{endpoint}", f"{prefix}/{endpoint}/"} <= exact


def test_the_dev_gateway_refuses_a_services_operational_endpoints(
    helm_template: Callable[..., list[Object]],
) -> None:
    conf = _dev_gateway_conf(helm_template)
    for service in PUBLIC:
        assert f"location ~ ^/{service}/+({'|'.join(ENDPOINTS)})/*$ {{ return 404; }}" in conf, (
            service
        )


@pytest.mark.parametrize(("values", "served"), [((), "true"), (("values-prod.yaml",), "false")])
def test_api_docs_are_off_in_prod(
    helm_template: Callable[..., list[Object]], values: tuple[str, ...], served: str
) -> None:
    configs = _configs(helm_template(values=values))
    assert configs
    assert {config["API_DOCS"] for config in configs.values()} == {served}


def test_the_prod_overlay_turns_api_docs_off(kustomize: Callable[[Path], list[Object]]) -> None:
    configs = _configs(kustomize(REPO_ROOT / "deploy" / "k8s" / "overlays" / "prod"))
    assert {config["API_DOCS"] for config in configs.values()} == {"false"}


def test_the_dev_gateway_has_no_location_for_an_internal_service(
    helm_template: Callable[..., list[Object]],
) -> None:
    conf = _dev_gateway_conf(helm_template)
    for service in PUBLIC:
        assert f"location /{service}/ {{" in conf
    for service in INTERNAL:
        assert f"/{service}/" not in conf
        assert f"http://{service}:" not in conf


def test_prod_runs_no_simulator_and_payments_calls_the_configured_provider(
    helm_template: Callable[..., list[Object]],
) -> None:
    objects = helm_template(values=["values-prod.yaml"])
    assert not [o for o in objects if o["metadata"].get("labels", {}).get(_NAME) == "psp"]
    configs = _configs(objects)
    downstreams = json.loads(configs["payments"]["DOWNSTREAMS"])
    assert downstreams["psp"]["base_url"].startswith("https://")
    for service, config in configs.items():
        if service != "payments":
            assert "psp" not in json.loads(config["DOWNSTREAMS"]), service
    assert ("flotilla-payments-psp", "psp_api_key") in _secret_files(objects, "payments")


def test_the_merchant_key_is_a_mounted_secret_on_both_sides(
    helm_template: Callable[..., list[Object]],
) -> None:
    objects = helm_template()
    assert ("flotilla-psp-api-keys", "api_keys") in _secret_files(objects, "psp")
    assert ("flotilla-payments-psp", "psp_api_key") in _secret_files(objects, "payments")
    for config in _configs(objects).values():
        assert not any("sk_test_" in value or "sk_live_" in value for value in config.values())


def test_the_prod_overlay_has_no_simulator_either(
    kustomize: Callable[[Path], list[Object]],
) -> None:
    objects = kustomize(REPO_ROOT / "deploy" / "k8s" / "overlays" / "prod")
    assert not [o for o in objects if o["metadata"].get("labels", {}).get(_NAME) == "psp"]
    assert json.loads(_configs(objects)["payments"]["DOWNSTREAMS"])["psp"]["base_url"].startswith(
        "https://"
    )


_NAME = "app.kubernetes.io/name"


def _configs(objects: list[Object]) -> dict[str, dict[str, str]]:
    return {
        o["data"]["SERVICE_NAME"]: o["data"]
        for o in objects
        if o["kind"] == "ConfigMap" and "SERVICE_NAME" in o.get("data", {})
    }


def _secret_files(objects: list[Object], service: str) -> set[tuple[str, str]]:
    """(Secret name, file name) of each file in the service's SECRETS_DIR volume."""
    [deployment] = [
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["labels"][_NAME] == service
    ]
    return {
        (source["secret"]["name"], item["path"])
        for volume in deployment["spec"]["template"]["spec"]["volumes"]
        for source in volume.get("projected", {}).get("sources", [])
        if "secret" in source
        for item in source["secret"].get("items", [])
    }


def _dev_gateway_conf(helm_template: Callable[..., list[Object]]) -> str:
    """The dev gateway's nginx server block (values-dev.yaml)."""
    [config] = [
        o
        for o in helm_template(values=["values-dev.yaml"])
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-gateway")
    ]
    conf: str = config["data"]["default.conf"]
    return conf
