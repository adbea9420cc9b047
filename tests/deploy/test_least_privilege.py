"""Item 8 of the hardening issue, offline: what the rendered charts and overlays let a pod reach,
and where the database administrator's password lives.

- every NetworkPolicy egress rule names its destination (selectors or CIDRs): a rule without
  `to` would allow any address; DNS goes to kube-system's DNS pods only;
- the gateway and Prometheus may call the services only from their own namespaces (a
  namespaceSelector with labels plus a podSelector, never `namespaceSelector: {}`);
- no container carries a database URL in its environment: the migration Job reads the admin
  URL from a mounted Secret file (ADMIN_DATABASE_URL_FILE);
- prod verifies Postgres' certificate (PGSSLMODE verify-full with a CA) and pins its images by
  digest, in the prod values and the prod overlay alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.manifest import load_manifests
from devstack.profiles import REPO_ROOT

Object = dict[str, Any]
K8S = REPO_ROOT / "deploy" / "k8s"
SERVICE_CHART = REPO_ROOT / "deploy" / "helm" / "service"
UMBRELLA_VALUES = {"default": (), "dev": ("values-dev.yaml",), "prod": ("values-prod.yaml",)}
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def renders(
    helm_template: Callable[..., list[Object]], kustomize: Callable[[Path], list[Object]]
) -> dict[str, list[Object]]:
    rendered = {f"helm {name}": helm_template(values=v) for name, v in UMBRELLA_VALUES.items()}
    rendered["service chart alone"] = helm_template(SERVICE_CHART, sets=["service=orders"])
    for overlay in ("dev", "prod"):
        rendered[f"overlay {overlay}"] = kustomize(K8S / "overlays" / overlay)
    return rendered


def _policies(objects: list[Object]) -> Iterator[Object]:
    return (o for o in objects if o["kind"] == "NetworkPolicy")


def _containers(objects: list[Object]) -> Iterator[tuple[Object, Object]]:
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet", "Job"):
            spec = o["spec"]["template"]["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                yield o, container


def test_every_egress_rule_names_its_destination(renders: dict[str, list[Object]]) -> None:
    for render, objects in renders.items():
        policies = list(_policies(objects))
        assert policies, render
        for policy in policies:
            for rule in policy["spec"].get("egress", []):
                assert rule.get("to"), f"{render}: {policy['metadata']['name']}: {rule}"


def test_dns_goes_to_the_cluster_dns_pods_only(renders: dict[str, list[Object]]) -> None:
    kube_dns = [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    rules = 0
    for render, objects in renders.items():
        for policy in _policies(objects):
            for rule in policy["spec"].get("egress", []):
                if any(port.get("port") == 53 for port in rule.get("ports", [])):
                    rules += 1
                    assert rule["to"] == kube_dns, f"{render}: {policy['metadata']['name']}"
    assert rules


def test_a_dns_server_outside_the_pod_network_is_named_by_address(
    helm_template: Callable[..., list[Object]],
) -> None:
    """How tests/k8s points DNS at its cluster's CoreDNS, which runs on the host."""
    objects = helm_template(
        values=["values-dev.yaml"],
        sets=["global.flotilla.networkPolicy.dns.to[0].ipBlock.cidr=10.244.0.1/32"],
    )
    dns = [
        rule["to"]
        for policy in _policies(objects)
        for rule in policy["spec"].get("egress", [])
        if any(port.get("port") == 53 for port in rule.get("ports", []))
    ]
    assert dns
    assert all(to[0]["ipBlock"] == {"cidr": "10.244.0.1/32"} for to in dns)


def test_other_namespaces_reach_the_services_only_from_named_pods(
    renders: dict[str, list[Object]],
) -> None:
    peers_seen = 0
    for render, objects in renders.items():
        for policy in _policies(objects):
            for rule in policy["spec"].get("ingress", []):
                for peer in rule.get("from", []):
                    if "namespaceSelector" in peer:
                        peers_seen += 1
                        where = f"{render}: {policy['metadata']['name']}: {peer}"
                        assert peer["namespaceSelector"].get("matchLabels"), where
                        assert peer.get("podSelector", {}).get("matchLabels"), where
    assert peers_seen  # the gateway's and Prometheus' peers are there to check


def test_the_gateway_and_prometheus_namespaces_come_from_values(
    helm_template: Callable[..., list[Object]],
) -> None:
    objects = helm_template(
        sets=[
            "global.flotilla.networkPolicy.gateway.namespace=edge",
            "global.flotilla.networkPolicy.prometheus.namespace=metrics",
        ]
    )
    [orders] = [p for p in _policies(objects) if p["metadata"]["name"] == "orders"]
    namespaces = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in orders["spec"]["ingress"]
        for peer in rule["from"]
        if "namespaceSelector" in peer
    }
    assert namespaces == {"edge", "metrics"}


@pytest.mark.parametrize(
    "assignment",
    [
        "global.flotilla.networkPolicy.kafka.to=[]",
        'orders.networkPolicy.extraEgress=[{"ports":[{"port":443}]}]',
    ],
    ids=["empty-to", "extra-egress-without-to"],
)
def test_a_rule_open_to_any_destination_is_refused(tools: Any, assignment: str) -> None:
    result = tools.run(
        tools.helm,
        "template",
        "flotilla",
        REPO_ROOT / "deploy" / "helm" / "flotilla",
        "--set-json",
        assignment,
    )
    assert result.returncode != 0
    assert "to" in result.stderr


def test_no_container_carries_a_database_url_in_its_environment(
    renders: dict[str, list[Object]],
) -> None:
    for render, objects in renders.items():
        for workload, container in _containers(objects):
            for variable in container.get("env", []):
                name = variable["name"]
                if "DATABASE_URL" in name:
                    assert name.endswith("_FILE"), f"{render}: {workload['metadata']['name']}"
                    assert "valueFrom" not in variable


def test_the_migration_job_reads_the_admin_url_from_a_mounted_secret(
    renders: dict[str, list[Object]],
) -> None:
    """Wherever bootstrap runs — a hook Job, or (migration.mode=initContainer, the dev values)
    every pod's init container — it reads the admin URL from a file of a mounted Secret, and
    the serving container never mounts that Secret."""
    for render, objects in renders.items():
        migrating = []  # (pod spec, the bootstrap container)
        for o in objects:
            if (
                o["kind"] == "Job"
                and o["metadata"]["labels"].get("app.kubernetes.io/component") == "migration"
            ):
                spec = o["spec"]["template"]["spec"]
                migrating += [(spec, container) for container in spec["containers"]]
            elif o["kind"] == "Deployment":
                spec = o["spec"]["template"]["spec"]
                migrating += [
                    (spec, c) for c in spec.get("initContainers", []) if c["name"] == "bootstrap"
                ]
                for container in spec["containers"]:
                    mounts = {m["name"] for m in container.get("volumeMounts", [])}
                    assert "database-admin" not in mounts, (render, container["name"])
        assert migrating, render
        for spec, container in migrating:
            env = {v["name"]: v.get("value") for v in container["env"]}
            assert "ADMIN_DATABASE_URL" not in env
            path = Path(env["ADMIN_DATABASE_URL_FILE"])
            [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent)]
            [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
            assert volume["secret"]["secretName"] == "flotilla-postgres-admin", render
            assert [item["path"] for item in volume["secret"]["items"]] == [path.name]


@pytest.mark.parametrize("render", ["helm prod", "overlay prod"])
def test_prod_verifies_the_database_certificate(
    renders: dict[str, list[Object]], render: str
) -> None:
    objects = renders[render]
    settings = [
        o["data"]
        for o in objects
        if o["kind"] == "ConfigMap" and "SERVICE_NAME" in o.get("data", {})
    ]
    assert settings
    for data in settings:
        assert data["PGSSLMODE"] == "verify-full"
        assert data["PGSSLROOTCERT"] == "/var/run/secrets/flotilla/postgres_ca.crt"
    for workload, _container in _containers(objects):
        if workload["metadata"]["labels"].get("app.kubernetes.io/part-of") != "flotilla":
            continue
        if workload["metadata"]["labels"].get("app.kubernetes.io/component") not in (
            "api",
            "migration",
        ):
            continue
        sources = workload["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"]
        assert {"key": "ca.crt", "path": "postgres_ca.crt"} in [
            item for source in sources for item in source["secret"].get("items", [])
        ], workload["metadata"]["name"]


@pytest.mark.parametrize("render", ["helm prod", "overlay prod"])
def test_prod_pins_every_service_image_by_digest(
    renders: dict[str, list[Object]], render: str
) -> None:
    images = {
        container["image"]
        for workload, container in _containers(renders[render])
        if "/flotilla/" in container["image"]
    }
    production = [m for m in load_manifests(REPO_ROOT / "services") if m.production]
    assert len(images) == len(production)  # psp, a simulator, is off
    assert all(DIGEST.search(image) for image in images), images
