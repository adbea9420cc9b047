"""Every topic of deploy/topics.yaml (declared, retry and DLQ) gets the cluster's replication from
the chart's values: three copies with two in sync in production, one and one on the single
broker of the dev values (the topic file's own, which the local stack uses)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contracts.topology import load_topology
from devstack.profiles import REPO_ROOT

Object = dict[str, Any]
Render = Callable[..., list[Object]]
UMBRELLA = REPO_ROOT / "deploy" / "helm" / "flotilla"
K8S = REPO_ROOT / "deploy" / "k8s"


def _kafka_topics(objects: list[Object]) -> dict[str, tuple[int, str]]:
    """Topic name → (replicas, min.insync.replicas) of each Strimzi KafkaTopic."""
    return {
        o["spec"]["topicName"]: (o["spec"]["replicas"], o["spec"]["config"]["min.insync.replicas"])
        for o in objects
        if o["kind"] == "KafkaTopic"
    }


def _job_topics(objects: list[Object]) -> dict[str, tuple[int, str]]:
    """Topic name → (replicas, min.insync.replicas) of each kafka-topics.sh line of the Job."""
    (job,) = [o for o in objects if o["kind"] == "Job" and "-topics-" in o["metadata"]["name"]]
    (script,) = job["spec"]["template"]["spec"]["containers"][0]["args"]
    created = {}
    for line in script.splitlines():
        if "--create" not in line:
            continue
        words = shlex.split(line)
        configs = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--config")
        name = words[words.index("--topic") + 1]
        replicas = int(words[words.index("--replication-factor") + 1])
        created[name] = (replicas, configs["min.insync.replicas"])
    return created


def _every_topic(replicas: int, min_insync: int) -> dict[str, tuple[int, str]]:
    return {topic.name: (replicas, str(min_insync)) for topic in load_topology().topics}


def test_the_topic_file_has_retry_and_dlq_topics_to_cover() -> None:
    roles = {topic.role for topic in load_topology().topics}
    assert roles == {"stream", "retry", "dlq"}


@pytest.mark.parametrize("values", [(), ("values-prod.yaml",)], ids=["default", "prod"])
def test_production_topics_have_three_replicas_two_in_sync(
    helm_template: Render, values: tuple[str, ...]
) -> None:
    assert _kafka_topics(helm_template(values=values)) == _every_topic(3, 2)


def test_prod_overlay_topics_have_three_replicas_two_in_sync(
    kustomize: Callable[[Path], list[Object]],
) -> None:
    assert _kafka_topics(kustomize(K8S / "overlays" / "prod")) == _every_topic(3, 2)


def test_dev_topics_job_creates_one_replica_one_in_sync(helm_template: Render) -> None:
    objects = helm_template(values=["values-dev.yaml"])
    assert _kafka_topics(objects) == {}
    assert _job_topics(objects) == _every_topic(1, 1)


def test_dev_overlay_topics_job_creates_one_replica_one_in_sync(
    kustomize: Callable[[Path], list[Object]],
) -> None:
    objects = kustomize(K8S / "overlays" / "dev")
    assert _kafka_topics(objects) == {}
    assert _job_topics(objects) == _every_topic(1, 1)


def test_replication_values_apply_to_the_topics_job_too(helm_template: Render) -> None:
    sets = ["topics.provisioner=job", "topics.replicas=5", "topics.minInsyncReplicas=3"]
    assert _job_topics(helm_template(sets=sets)) == _every_topic(5, 3)


def test_min_insync_above_replicas_fails_with_the_reason(tools: Any) -> None:
    result = tools.run(
        tools.helm, "template", "flotilla", UMBRELLA,
        "--set", "topics.replicas=2", "--set", "topics.minInsyncReplicas=3",
    )  # fmt: skip
    assert result.returncode != 0
    assert "topics.minInsyncReplicas (3) exceeds topics.replicas (2)" in result.stderr


@pytest.mark.parametrize("value", ["topics.replicas=0", "topics.minInsyncReplicas=null"])
def test_the_schema_refuses_missing_or_zero_replication(tools: Any, value: str) -> None:
    result = tools.run(tools.helm, "template", "flotilla", UMBRELLA, "--set", value)
    assert result.returncode != 0
    assert re.search(r"topics.*(minimum|required|minInsyncReplicas)", result.stderr), result.stderr
