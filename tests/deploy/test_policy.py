"""Policy checks over every rendered object (kube-linter is not served by the module proxy).

Each workload: startup/liveness/readiness probes (long-running ones), CPU and memory requests
and a memory limit, the restricted security context, an immutable image tag, a
PodDisruptionBudget (long-running ones), and NetworkPolicies that select its pods for both
directions. An exception is an annotation `flotilla.dev/policy-exceptions: "<check>: <why>; ..."`
on the workload; one without a reason, or naming an unknown check, is itself a problem.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.profiles import REPO_ROOT

Object = dict[str, Any]
EXCEPTIONS = "flotilla.dev/policy-exceptions"
CHECKS = frozenset({"probes", "resources", "read-only-root", "security", "image", "pdb", "hpa",
                    "network-policy"})  # fmt: skip
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet")
RENDERS = {
    "umbrella-default": ("helm", ()),
    "umbrella-dev": ("helm", ("values-dev.yaml",)),
    "umbrella-prod": ("helm", ("values-prod.yaml",)),
    "kustomize-dev": ("kustomize", "dev"),
    "kustomize-prod": ("kustomize", "prod"),
}


def _exceptions(workload: Object) -> tuple[set[str], list[str]]:
    text = workload["metadata"].get("annotations", {}).get(EXCEPTIONS, "")
    granted, problems = set(), []
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        check, _, reason = entry.partition(":")
        if check.strip() not in CHECKS or not reason.strip():
            problems.append(f"exception {entry!r} names no known check or gives no reason")
        granted.add(check.strip())
    return granted, problems


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels", {})
    return all(labels.get(key) == value for key, value in wanted.items())


def _containers(pod: Object) -> Iterator[Object]:
    yield from pod.get("initContainers", [])
    yield from pod["containers"]


def policy_problems(objects: list[Object]) -> list[str]:
    problems: list[str] = []
    namespaces = {o["metadata"].get("namespace") for o in objects}
    for workload in objects:
        if workload["kind"] not in (*LONG_RUNNING, "Job"):
            continue
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        granted, bad = _exceptions(workload)
        problems += [f"{name}: {problem}" for problem in bad]
        template = workload["spec"]["template"]
        pod, labels = template["spec"], template["metadata"].get("labels", {})
        pod_security = pod.get("securityContext", {})
        long_running = workload["kind"] in LONG_RUNNING
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: automountServiceAccountToken is not false")
        init = {c["name"] for c in pod.get("initContainers", [])}
        for container in _containers(pod):
            where = f"{name} container {container['name']}"
            # An init container runs to its end before the others start: it takes no probes.
            if long_running and "probes" not in granted and container["name"] not in init:
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    if probe not in container:
                        problems.append(f"{where}: no {probe}")
            resources = container.get("resources", {})
            if "resources" not in granted and not (
                {"cpu", "memory"} <= set(resources.get("requests", {}))
                and "memory" in resources.get("limits", {})
            ):
                problems.append(f"{where}: needs cpu and memory requests and a memory limit")
            security = container.get("securityContext", {})
            if "security" not in granted:
                if security.get("allowPrivilegeEscalation") is not False:
                    problems.append(f"{where}: allowPrivilegeEscalation is not false")
                if security.get("capabilities", {}).get("drop") != ["ALL"]:
                    problems.append(f"{where}: capabilities are not all dropped")
                if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
                    problems.append(f"{where}: may run as root")
                seccomp = security.get("seccompProfile") or pod_security.get("seccompProfile")
                if (seccomp or {}).get("type") != "RuntimeDefault":
                    problems.append(f"{where}: seccomp profile is not RuntimeDefault")
            if (
                "read-only-root" not in granted
                and security.get("readOnlyRootFilesystem") is not True
            ):
                problems.append(f"{where}: root filesystem is writable")
            image = container["image"]
            tag = image.split("@")[0].rpartition(":")[2] if ":" in image.split("/")[-1] else ""
            if "image" not in granted and (not tag or tag == "latest"):
                problems.append(f"{where}: image {image!r} has no immutable tag")
        if (
            long_running
            and "pdb" not in granted
            and not any(
                o["kind"] == "PodDisruptionBudget" and _matches(o["spec"]["selector"], labels)
                for o in objects
            )
        ):
            problems.append(f"{name}: no PodDisruptionBudget selects its pods")
        policies = [
            o for o in objects if o["kind"] == "NetworkPolicy"
            and _matches(o["spec"]["podSelector"], labels)
        ]  # fmt: skip
        types = {kind for o in policies for kind in o["spec"].get("policyTypes", [])}
        if "network-policy" not in granted and not {"Ingress", "Egress"} <= types:
            problems.append(f"{name}: no NetworkPolicy restricts both its ingress and egress")
    if len(namespaces) > 1:
        problems.append(f"objects spread over namespaces {sorted(map(str, namespaces))}")
    return problems


@pytest.fixture(scope="module")
def renders(
    helm_template: Callable[..., list[Object]], kustomize: Callable[[Path], list[Object]]
) -> dict[str, list[Object]]:
    rendered = {}
    for label, (tool, arg) in RENDERS.items():
        if tool == "helm":
            rendered[label] = helm_template(values=arg)
        else:
            rendered[label] = kustomize(REPO_ROOT / "deploy" / "k8s" / "overlays" / str(arg))
    return rendered


@pytest.mark.parametrize("render", sorted(RENDERS))
def test_rendered_objects_pass_every_policy(renders: dict[str, list[Object]], render: str) -> None:
    assert policy_problems(renders[render]) == []


def test_service_chart_alone_passes_every_policy(
    helm_template: Callable[..., list[Object]],
) -> None:
    for service in ("identity", "notifications"):
        objects = helm_template(
            REPO_ROOT / "deploy" / "helm" / "service", sets=[f"service={service}"]
        )
        assert policy_problems(objects) == []


def test_every_exception_is_explained(renders: dict[str, list[Object]]) -> None:
    explained = {
        (o["kind"], o["metadata"]["name"]): o["metadata"]["annotations"][EXCEPTIONS]
        for objects in renders.values()
        for o in objects
        if EXCEPTIONS in o["metadata"].get("annotations", {})
    }
    # Only the dev cluster's single Postgres, Kafka, gateway and SMTP sink are exempt from
    # anything.
    assert {name for _, name in explained} == {
        "flotilla-postgres",
        "flotilla-kafka",
        "flotilla-gateway",
        "flotilla-smtp-sink",
    }


def test_a_missing_probe_is_reported(renders: dict[str, list[Object]]) -> None:
    objects = copy.deepcopy(renders["umbrella-default"])
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    del deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    name = deployment["metadata"]["name"]
    assert policy_problems(objects) == [f"Deployment/{name} container {name}: no readinessProbe"]


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda c, p: c["securityContext"].update(readOnlyRootFilesystem=False), "root filesystem"),
        (lambda c, p: c["resources"].pop("limits"), "memory limit"),
        (lambda c, p: c.update(image="flotilla/orders:latest"), "immutable tag"),
        (lambda c, p: c["securityContext"].pop("capabilities"), "capabilities"),
        (lambda c, p: c["securityContext"].update(allowPrivilegeEscalation=True), "Escalation"),
    ],
    ids=["writable-root", "no-limits", "latest-tag", "capabilities", "escalation"],
)
def test_each_broken_rule_is_reported(
    renders: dict[str, list[Object]], breakage: Callable[[Object, Object], Any], expected: str
) -> None:
    objects = copy.deepcopy(renders["umbrella-default"])
    pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    breakage(pod["containers"][0], pod)
    problems = policy_problems(objects)
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_a_workload_without_pdb_or_network_policy_is_reported(
    renders: dict[str, list[Object]],
) -> None:
    objects = [
        o for o in renders["umbrella-default"]
        if o["kind"] not in ("PodDisruptionBudget", "NetworkPolicy")
    ]  # fmt: skip
    problems = policy_problems(objects)
    assert any("no PodDisruptionBudget" in p for p in problems)
    assert any("no NetworkPolicy" in p for p in problems)
