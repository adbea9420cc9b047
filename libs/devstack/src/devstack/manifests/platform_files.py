"""The platform files every stack reads: the route table (deploy/routes.yaml), the topic file
(deploy/topics.yaml), and the service list of the alert rules."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import BaseModel

from contracts.manifest import ServiceManifest
from devstack.manifests.blocks import replace_blocks

__all__ = ["alert_rules", "routes", "scalar", "topics"]

_DAY_MS = 86_400_000
# The settings a topic, retry or dlq entry may override, in the topic file's order.
_OVERRIDES = (
    "partitions",
    "replication_factor",
    "retention_ms",
    "cleanup_policy",
    "min_insync_replicas",
)


def routes(manifests: Sequence[ServiceManifest], text: str, where: str) -> str:
    """In slot order: the local stack gives the i-th route the i-th service port."""
    entries = []
    for manifest in manifests:
        http = manifest.http
        entry = (
            f"  - service: {manifest.name}\n"
            f"    prefix: {http.prefix}\n"
            f"    exposure: {http.exposure}\n"
        )
        if http.rate_limit is not None:
            limit = http.rate_limit
            entry += (
                f"    rate_limit: {{ requests_per_s: {limit.requests_per_s}, "
                f"burst: {limit.burst} }}\n"
            )
        entries.append(entry)
    return replace_blocks(text, {"routes": "".join(entries)}, where)


def topics(manifests: Sequence[ServiceManifest], text: str, where: str) -> str:
    """Each service's `publishes` as topics it owns, its `consumer` as its group."""
    topic_entries = [
        f"  - name: {topic.name}\n"
        f"    owner: {manifest.name}\n"
        f"    description: {scalar(topic.description)}\n" + _overrides(topic, "    ")
        for manifest in manifests
        for topic in manifest.publishes
    ]
    group_entries = []
    for manifest in manifests:
        consumer = manifest.consumer
        if consumer is None:
            continue
        entry = f"  - name: {manifest.name}\n    subscribes: [{', '.join(consumer.subscribes)}]\n"
        if consumer.retry is not None:
            delays = ", ".join(_number(delay) for delay in consumer.retry.delays_s)
            entry += f"    retry:\n      delays_s: [{delays}]\n"
            entry += _overrides(consumer.retry, "      ")
        dlq = _overrides(consumer.dlq, "      ")
        if dlq:
            entry += "    dlq:\n" + dlq
        group_entries.append(entry)
    bodies = {"topics": "".join(topic_entries), "groups": "".join(group_entries)}
    return replace_blocks(text, bodies, where)


def alert_rules(manifests: Sequence[ServiceManifest], text: str, where: str) -> str:
    """FlotillaServiceDown's job regex: every service's scrape job."""
    jobs = "|".join(m.name for m in manifests)
    line = f'        expr: sum by (namespace, job) (up{{job=~"{jobs}"}}) == 0\n'
    return replace_blocks(text, {"service jobs": line}, where)


def scalar(value: str) -> str:
    """`value` as a YAML scalar: plain when YAML reads it back unchanged, else double-quoted."""
    try:
        if yaml.safe_load(f"k: {value}") == {"k": value}:
            return value
    except yaml.YAMLError:
        pass
    return json.dumps(value, ensure_ascii=False)


def _overrides(entry: BaseModel, indent: str) -> str:
    lines = []
    for key in _OVERRIDES:
        value: Any = getattr(entry, key)
        if value is None:
            continue
        line = f"{indent}{key}: {value}"
        if key == "retention_ms" and value > 0 and value % _DAY_MS == 0:
            days = value // _DAY_MS
            line += f" # {days} day{'s' if days != 1 else ''}"
        lines.append(line + "\n")
    return "".join(lines)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
