"""The umbrella chart's optional load generator (`loadGenerator`): absent unless turned on; on,
one hardened Deployment calling the gateway and a NetworkPolicy letting it call nothing else; bad
settings refused by the values schema or with a message naming the missing value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devstack.charts import KUBE_VERSION
from devstack.profiles import REPO_ROOT
from tests.deploy.test_policy import policy_problems

Object = dict[str, Any]
Tools = Any  # the `tools` fixture (conftest.py)
UMBRELLA = REPO_ROOT / "deploy" / "helm" / "flotilla"
DEV = ("values-dev.yaml",)
ON = ("loadGenerator.enabled=true",)


def _generator(objects: list[Object]) -> list[Object]:
    return [
        o for o in objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "load-generator"
    ]  # fmt: skip


@pytest.mark.parametrize("values", [(), DEV, ("values-prod.yaml",)], ids=["default", "dev", "prod"])
def test_off_by_default_renders_nothing(
    helm_template: Callable[..., list[Object]], values: tuple[str, ...]
) -> None:
    assert _generator(helm_template(values=values)) == []


def test_on_with_the_dev_values_it_runs_continuously_against_the_dev_gateway(
    helm_template: Callable[..., list[Object]], validate: Callable[[list[Object]], list[str]]
) -> None:
    objects = helm_template(values=DEV, sets=[*ON, "loadGenerator.rate=3"])
    generator = _generator(objects)
    assert sorted(o["kind"] for o in generator) == ["Deployment", "NetworkPolicy"]
    assert validate(generator) == []
    deployment = next(o for o in generator if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 1
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("flotilla/load-generator:")
    args = container["args"]
    assert "--gateway=http://flotilla-gateway:8080" in args
    assert "--rate=3" in args
    assert "--continuous" in args
    assert "--log-format=json" in args
    assert not any(a.startswith("--admin-password-file") for a in args)


def test_it_is_hardened_like_the_services(helm_template: Callable[..., list[Object]]) -> None:
    generator = _generator(helm_template(values=DEV, sets=ON))
    assert policy_problems(generator) == []
    deployment = next(o for o in generator if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user (Dockerfile)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    # No probe and no disruption budget, each with its reason (test_policy checks the form).
    exceptions = deployment["metadata"]["annotations"]["flotilla.dev/policy-exceptions"]
    assert exceptions.startswith("probes:")
    assert "pdb:" in exceptions


def test_its_network_policy_admits_nobody_and_lets_it_call_only_the_gateway(
    helm_template: Callable[..., list[Object]],
) -> None:
    generator = _generator(helm_template(values=DEV, sets=ON))
    (policy,) = [o for o in generator if o["kind"] == "NetworkPolicy"]
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert policy["spec"]["ingress"] == []
    dns, gateway = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert gateway["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert gateway["to"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "gateway",
                    "app.kubernetes.io/instance": "flotilla",
                }
            }
        }
    ]


def test_a_finite_duration_and_the_admin_password_from_a_secret(
    helm_template: Callable[..., list[Object]],
) -> None:
    sets = [*ON, "loadGenerator.durationSeconds=600", "loadGenerator.adminPasswordSecret.name=adm"]
    deployment = next(
        o for o in _generator(helm_template(values=DEV, sets=sets)) if o["kind"] == "Deployment"
    )
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "--duration=600" in container["args"]
    assert "--continuous" not in container["args"]
    assert "--admin-password-file=/var/run/secrets/flotilla/admin-password" in container["args"]
    (volume,) = pod["volumes"]
    assert volume["secret"]["secretName"] == "adm"
    assert volume["secret"]["items"] == [{"key": "admin_password", "path": "admin-password"}]


def test_another_gateway_is_named_by_target_and_its_peers(
    helm_template: Callable[..., list[Object]],
) -> None:
    sets = [
        *ON,
        "loadGenerator.target=http://envoy-flotilla.envoy-gateway-system:80",
        "loadGenerator.networkPolicy.ports={80}",
        "loadGenerator.networkPolicy.to[0].namespaceSelector.matchLabels.name=envoy",
    ]
    generator = _generator(helm_template(sets=sets))
    deployment = next(o for o in generator if o["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--gateway=http://envoy-flotilla.envoy-gateway-system:80" in args
    policy = next(o for o in generator if o["kind"] == "NetworkPolicy")
    assert policy["spec"]["egress"][1]["ports"] == [{"port": 80, "protocol": "TCP"}]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["loadGenerator.rate=0"], "/loadGenerator/rate"),
        (["loadGenerator.rate=-1"], "/loadGenerator/rate"),
        (["loadGenerator.durationSeconds=-5"], "/loadGenerator/durationSeconds"),
        (["loadGenerator.target=gateway:8080"], "/loadGenerator/target"),
        (["loadGenerator.image=flotilla/load-generator:latest"], "/loadGenerator/image"),
        (["loadGenerator.resources.limits=null"], "/loadGenerator/resources"),
        (["loadGenerator.replicas=3"], "replicas"),
        # Without the dev gateway the chart cannot guess where to send the traffic.
        (ON, "loadGenerator.target is required"),
        ([*ON, "loadGenerator.target=http://gw:80"], "loadGenerator.networkPolicy.to is required"),
    ],
    ids=["zero-rate", "negative-rate", "negative-duration", "target-not-a-url", "latest-tag",
         "no-limits", "unknown-key", "no-target", "no-egress-peers"],
)  # fmt: skip
def test_bad_settings_are_refused_with_the_value_named(
    tools: Tools, sets: list[str], message: str
) -> None:
    argv: list[Any] = [tools.helm, "template", "flotilla", UMBRELLA, "--kube-version", KUBE_VERSION]
    for assignment in sets:
        argv += ["--set", assignment]
    result = tools.run(*argv)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
