"""Item 2 of the hardening issue, at the cluster's edge: the chart renders a rate-limit policy
for each public route from deploy/routes.yaml's rate_limit, for the one Gateway API
implementation the values choose (Envoy Gateway's BackendTrafficPolicy), and nothing unless
they choose one. Each policy is validated, strictly, against the BackendTrafficPolicy CRD of
Envoy Gateway v1.9.0 (tests/deploy/crds)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from devstack.routes import load_routes

Object = dict[str, Any]
ENVOY_GATEWAY = ["gateway.rateLimits.implementation=envoy-gateway"]
PUBLIC = {route.service: route for route in load_routes() if route.public}


def _policies(objects: list[Object]) -> dict[str, Object]:
    return {
        o["spec"]["targetRefs"][0]["name"]: o
        for o in objects
        if o["kind"] == "BackendTrafficPolicy"
    }


@pytest.mark.parametrize("values", [(), ("values-dev.yaml",), ("values-prod.yaml",)])
def test_no_policy_unless_the_values_choose_an_implementation(
    helm_template: Callable[..., list[Object]], values: tuple[str, ...]
) -> None:
    assert _policies(helm_template(values=values)) == {}


def test_each_public_route_gets_its_limit_per_client_address(
    helm_template: Callable[..., list[Object]],
) -> None:
    objects = helm_template(values=["values-prod.yaml"], sets=ENVOY_GATEWAY)
    routes = {o["metadata"]["name"] for o in objects if o["kind"] == "HTTPRoute"}
    policies = _policies(objects)
    assert set(policies) == set(PUBLIC) == routes  # psp, internal, has neither
    for service, policy in policies.items():
        assert policy["spec"]["targetRefs"] == [
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": service}
        ]
        rules = policy["spec"]["rateLimit"]["global"]["rules"]
        assert [rule["clientSelectors"] for rule in rules] == [
            [{"sourceCIDR": {"type": "Distinct", "value": "0.0.0.0/0"}}],
            [{"sourceCIDR": {"type": "Distinct", "value": "::/0"}}],
        ]
        expected = PUBLIC[service].rate_limit.requests_per_s
        assert [rule["limit"] for rule in rules] == [{"requests": expected, "unit": "Second"}] * 2
        # Nothing keys on a header a client chooses (a bearer token it can invent anew).
        assert "headers" not in str(rules)
    assert policies["identity"]["spec"]["rateLimit"]["global"]["rules"][0]["limit"] == {
        "requests": 50,
        "unit": "Second",
    }


def test_the_policies_are_valid_against_envoy_gateway_s_crd(
    helm_template: Callable[..., list[Object]],
    validate: Callable[[Sequence[Object]], list[str]],
) -> None:
    policies = list(_policies(helm_template(sets=ENVOY_GATEWAY)).values())
    assert policies
    assert validate(policies) == []


def test_a_policy_the_crd_does_not_allow_is_reported(
    helm_template: Callable[..., list[Object]],
    validate: Callable[[Sequence[Object]], list[str]],
) -> None:
    [policy, *_] = _policies(helm_template(sets=ENVOY_GATEWAY)).values()
    wrong_unit = copy.deepcopy(policy)
    wrong_unit["spec"]["rateLimit"]["global"]["rules"][0]["limit"]["unit"] = "Fortnight"
    unknown_field = copy.deepcopy(policy)
    unknown_field["spec"]["rateLimit"]["global"]["rules"][0]["limit"]["burst"] = 100
    for broken in (wrong_unit, unknown_field):
        problems = validate([broken])
        assert any("BackendTrafficPolicy" in p for p in problems), problems
