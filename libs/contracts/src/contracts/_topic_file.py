"""The topic file's shape and rules: parsed strictly, every problem named with its entry."""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError

__all__ = [
    "Defaults",
    "GroupEntry",
    "Overrides",
    "TopicFile",
    "TopologyError",
    "derived_topic_names",
    "parse_topic_file",
]

_SERVICE = r"[a-z][a-z0-9_]*"
_SERVICE_NAME = re.compile(rf"^{_SERVICE}$")
_TOPIC_NAME = re.compile(rf"^{_SERVICE}\.{_SERVICE}$")

CleanupPolicy = Literal["delete", "compact", "compact,delete"]


class TopologyError(ValueError):
    """The topic file is missing or invalid; the message names the file and the entry."""


class Overrides(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    partitions: PositiveInt | None = None
    replication_factor: PositiveInt | None = None
    retention_ms: int | None = Field(default=None, ge=-1)
    cleanup_policy: CleanupPolicy | None = None
    min_insync_replicas: PositiveInt | None = None


class Defaults(Overrides):
    partitions: PositiveInt
    replication_factor: PositiveInt
    retention_ms: int = Field(ge=-1)
    cleanup_policy: CleanupPolicy
    min_insync_replicas: PositiveInt


class TopicEntry(Overrides):
    name: str
    owner: str
    description: str = ""


class RetryEntry(Overrides):
    delays_s: list[PositiveFloat] = Field(min_length=1)


class GroupEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str
    subscribes: list[str] = Field(min_length=1)
    retry: RetryEntry | None = None
    dlq: Overrides = Overrides()

    @property
    def retry_delays_s(self) -> tuple[float, ...]:
        return tuple(float(delay) for delay in self.retry.delays_s) if self.retry else ()


class TopicFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    defaults: Defaults
    topics: list[TopicEntry]
    groups: list[GroupEntry] = []


def derived_topic_names(group: str, retry_tiers: int) -> tuple[list[str], str]:
    """The group's retry topics (`<group>.retry.<n>`, one per delay) and its `<group>.dlq`."""
    return [f"{group}.retry.{tier}" for tier in range(1, retry_tiers + 1)], f"{group}.dlq"


def parse_topic_file(raw: Any, source: Path) -> TopicFile:
    try:
        parsed = TopicFile.model_validate(raw)
    except ValidationError as error:
        described = (f"{_location(e['loc'], raw)}: {_message(e)}" for e in error.errors())
        raise TopologyError(f"{source}: " + "; ".join(described)) from None
    problems = _topic_problems(parsed) + _group_problems(parsed)
    if problems:
        raise TopologyError(f"{source}: " + "; ".join(problems))
    return parsed


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "missing key"
    return str(error["msg"])


def _location(loc: Sequence[int | str], raw: Any) -> str:
    """`groups[0] (notifications).retry.delays_s[1]`: entries are named too, when they have one."""
    text, node = "", raw
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                text += f" ({node['name']})"
        else:
            text += f".{part}" if text else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return text or "the file"


def _topic_problems(parsed: TopicFile) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for topic in parsed.topics:
        service = topic.name.split(".")[0]
        if not _TOPIC_NAME.match(topic.name):
            problems.append(
                f"topic {topic.name!r} is not named `<service>.<aggregate>` "
                "(lower case, e.g. `orders.order`)"
            )
        elif topic.owner != service:
            problems.append(
                f"topic {topic.name!r} has owner {topic.owner!r}, but a topic is owned by "
                f"the service its name starts with ({service!r})"
            )
        if topic.name in seen:
            problems.append(f"topic {topic.name!r} is declared twice")
        seen.add(topic.name)
    return problems


def _group_problems(parsed: TopicFile) -> list[str]:
    declared = {topic.name for topic in parsed.topics}
    problems: list[str] = []
    seen: set[str] = set()
    for group in parsed.groups:
        name = group.name
        if not _SERVICE_NAME.match(name):
            problems.append(
                f"consumer group {name!r} is not named after a service (lower case, e.g. `orders`)"
            )
        if name in seen:
            problems.append(f"consumer group {name!r} is declared twice")
        seen.add(name)
        problems.extend(
            f"consumer group {name!r} subscribes to {topic!r}, which is not a declared topic "
            f"(declared: {', '.join(sorted(declared))})"
            for topic in group.subscribes
            if topic not in declared
        )
        if len(set(group.subscribes)) != len(group.subscribes):
            problems.append(f"consumer group {name!r} lists a subscription twice")
        delays = group.retry_delays_s
        if any(later <= earlier for earlier, later in pairwise(delays)):
            problems.append(f"consumer group {name!r}: retry delays must grow, got {list(delays)}")
        retry_topics, dlq_topic = derived_topic_names(name, len(delays))
        problems.extend(
            f"topic {topic!r} is derived from consumer group {name!r}; do not declare it"
            for topic in [*retry_topics, dlq_topic]
            if topic in declared
        )
    return problems
