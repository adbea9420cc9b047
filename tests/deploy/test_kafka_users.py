"""The chart's event-bus identities: one Strimzi KafkaUser per service that uses the bus, with
exactly the grants the local broker gets (contracts.acls), and each service connecting as its
own user over SASL_SSL with the Secret Strimzi writes for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts.acls import service_grants
from contracts.topology import load_topology

Object = dict[str, Any]


def _by_kind(objects: list[Object], kind: str) -> dict[str, Object]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_each_service_principal_gets_a_kafka_user_with_its_generated_acls(
    helm_template: Callable[..., list[Object]],
) -> None:
    users = _by_kind(helm_template(), "KafkaUser")
    grants = service_grants(load_topology())
    assert sorted(users) == sorted(grants)
    for name, user in users.items():
        assert user["apiVersion"] == "kafka.strimzi.io/v1"
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "flotilla"
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        authorization = user["spec"]["authorization"]
        assert authorization["type"] == "simple"
        rendered = sorted(
            (acl["resource"]["type"], acl["resource"].get("name", ""), tuple(acl["operations"]))
            for acl in authorization["acls"]
        )
        expected = sorted(
            (g.resource_type, "" if g.resource_type == "cluster" else g.name, g.operations)
            for g in grants[name]
        )
        assert rendered == expected, name
        assert all(
            acl["type"] == "allow" and acl["resource"].get("patternType", "literal") == "literal"
            for acl in authorization["acls"]
        )


def test_each_service_connects_as_its_own_user_over_tls(
    helm_template: Callable[..., list[Object]],
) -> None:
    objects = helm_template()
    configs = _by_kind(objects, "ConfigMap")
    deployments = _by_kind(objects, "Deployment")
    for name in service_grants(load_topology()):
        data = configs[name]["data"]
        assert data["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert data["KAFKA_SASL_USERNAME"] == name
        assert data["KAFKA_BOOTSTRAP_SERVERS"].endswith(":9093")
        volumes = deployments[name]["spec"]["template"]["spec"]["volumes"]
        sources = next(v for v in volumes if v["name"] == "secrets")["projected"]["sources"]
        projected = {
            (source["secret"]["name"], item["key"], item["path"])
            for source in sources
            for item in source["secret"]["items"]
        }
        assert (name, "password", "kafka_password") in projected
        assert ("flotilla-cluster-ca-cert", "ca.crt", "kafka_ca.crt") in projected
        assert data["KAFKA_SASL_PASSWORD_FILE"].endswith("/kafka_password")
    assert "KAFKA_SASL_USERNAME" not in configs["psp"]["data"]  # psp never uses the bus


def test_the_laptop_values_have_no_users_and_no_credentials(
    helm_template: Callable[..., list[Object]],
) -> None:
    objects = helm_template(values=["values-dev.yaml"])
    assert _by_kind(objects, "KafkaUser") == {}
    for config in _by_kind(objects, "ConfigMap").values():
        data = config.get("data", {})
        if "KAFKA_BOOTSTRAP_SERVERS" in data:
            assert data["KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
            assert "KAFKA_SASL_USERNAME" not in data
