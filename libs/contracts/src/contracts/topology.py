"""Kafka topics and consumer groups, read from the one topic file (`deploy/topics.yaml`).

The local stack, the tests and the Helm chart all read the file through `load_topology()`, so
partitions, replication and retention are set in one place. Each consumer group's retry topics
(`<group>.retry.<n>`, one per delay) and dead-letter topic (`<group>.dlq`) are derived here and
listed in `Topology.topics` after the declared ones.

Which file: an explicit `path`, else `$FLOTILLA_TOPICS_FILE`, else the repository's
`deploy/topics.yaml` (found relative to this package when it runs from the source tree), else
the copy shipped inside this package (`contracts/topics.yaml`, written by `make contracts` and
checked fresh by `make lint`): an installed package, as in a service's image, has no `deploy/`.
A service's consumer takes its group's topics and retry delays from here (servicekit's
`EventConsumer.for_group`), so the file is the only place they are declared.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from contracts._topic_file import (
    Defaults,
    Overrides,
    TopicFile,
    TopologyError,
    derived_topic_names,
    parse_topic_file,
)

__all__ = [
    "PACKAGED_TOPICS_FILE",
    "TOPICS_FILE_ENV",
    "ConsumerGroup",
    "TopicRole",
    "TopicSettings",
    "Topology",
    "TopologyError",
    "load_topology",
    "topics_file",
]

TOPICS_FILE_ENV = "FLOTILLA_TOPICS_FILE"
# libs/contracts/src/contracts/topology.py -> the repository root, four levels up
_SOURCE_TREE_FILE = Path(__file__).resolve().parents[4] / "deploy" / "topics.yaml"
PACKAGED_TOPICS_FILE = Path(__file__).resolve().parent / "topics.yaml"
"""The copy that ships with the package, for where the repository is not (an image)."""

TopicRole = Literal["stream", "retry", "dlq"]


@dataclass(frozen=True)
class TopicSettings:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]
    """Kafka topic configs: `retention.ms`, `cleanup.policy`, `min.insync.replicas`."""
    owner: str = ""
    """The service that produces on it (the group's own service for retry and DLQ topics)."""
    role: TopicRole = "stream"
    description: str = ""


@dataclass(frozen=True)
class ConsumerGroup:
    name: str
    """Named after the consuming service."""
    subscribes: tuple[str, ...]
    retry_delays_s: tuple[float, ...]
    retry_topics: tuple[str, ...]
    """`<group>.retry.<n>`, one per delay, in the same order."""
    dlq_topic: str

    @classmethod
    def declare(
        cls, name: str, subscribes: tuple[str, ...], retry_delays_s: tuple[float, ...]
    ) -> ConsumerGroup:
        """A group with the derived topic names the topic file would give it: for tests that
        consume with a group and topics of their own (short delays, a scratch topic)."""
        retry_topics, dlq_topic = derived_topic_names(name, len(retry_delays_s))
        return cls(name, subscribes, retry_delays_s, tuple(retry_topics), dlq_topic)


@dataclass(frozen=True)
class Topology:
    topics: list[TopicSettings]
    """Declared topics first, then each group's retry and dead-letter topics."""
    groups: list[ConsumerGroup]
    source: Path | None = field(default=None, compare=False)

    def topic(self, name: str) -> TopicSettings:
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(f"no topic {name!r} in {self.source}")

    def group(self, name: str) -> ConsumerGroup:
        for group in self.groups:
            if group.name == name:
                return group
        declared = ", ".join(g.name for g in self.groups) or "none"
        raise KeyError(f"no consumer group {name!r} in {self.source} (declared: {declared})")


def topics_file(path: Path | None = None) -> Path:
    """The topic file to read: `path`, else `$FLOTILLA_TOPICS_FILE`, else the source tree's,
    else the package's copy."""
    if path is not None:
        return path
    from_env = os.environ.get(TOPICS_FILE_ENV)
    if from_env:
        return Path(from_env)
    return _SOURCE_TREE_FILE if _SOURCE_TREE_FILE.is_file() else PACKAGED_TOPICS_FILE


def load_topology(path: Path | None = None) -> Topology:
    """Read, validate and expand the topic file; raises `TopologyError` naming each problem."""
    source = topics_file(path)
    try:
        raw: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TopologyError(
            f"{source}: no topic file there (pass a path or set {TOPICS_FILE_ENV})"
        ) from None
    except yaml.YAMLError as error:
        raise TopologyError(f"{source}: not valid YAML: {error}") from None
    topology = _expand(parse_topic_file(raw, source), source)
    unsafe = [
        f"topic {topic.name!r}: min.insync.replicas {topic.config['min.insync.replicas']} "
        f"exceeds its replication factor {topic.replication_factor}"
        for topic in topology.topics
        if int(topic.config["min.insync.replicas"]) > topic.replication_factor
    ]
    if unsafe:
        raise TopologyError(f"{source}: " + "; ".join(unsafe))
    return topology


def _settings(
    name: str,
    defaults: Defaults,
    overrides: Overrides,
    *,
    owner: str,
    role: TopicRole,
    description: str,
) -> TopicSettings:
    def pick(key: str) -> Any:
        value = getattr(overrides, key)
        return getattr(defaults, key) if value is None else value

    return TopicSettings(
        name=name,
        partitions=pick("partitions"),
        replication_factor=pick("replication_factor"),
        config={
            "cleanup.policy": pick("cleanup_policy"),
            "min.insync.replicas": str(pick("min_insync_replicas")),
            "retention.ms": str(pick("retention_ms")),
        },
        owner=owner,
        role=role,
        description=description,
    )


def _expand(parsed: TopicFile, source: Path) -> Topology:
    defaults = parsed.defaults
    topics = [
        _settings(t.name, defaults, t, owner=t.owner, role="stream", description=t.description)
        for t in parsed.topics
    ]
    groups: list[ConsumerGroup] = []
    for entry in parsed.groups:
        retry_topics, dlq_topic = derived_topic_names(entry.name, len(entry.retry_delays_s))
        delays = entry.retry_delays_s
        for tier, (name, delay) in enumerate(zip(retry_topics, delays, strict=True), start=1):
            topics.append(
                _settings(
                    name,
                    defaults,
                    entry.retry or Overrides(),
                    owner=entry.name,
                    role="retry",
                    description=f"Retry tier {tier} of group {entry.name}: after {delay:g} s.",
                )
            )
        topics.append(
            _settings(
                dlq_topic,
                defaults,
                entry.dlq,
                owner=entry.name,
                role="dlq",
                description=f"Dead letters of group {entry.name}, with headers saying why.",
            )
        )
        groups.append(
            ConsumerGroup(
                name=entry.name,
                subscribes=tuple(entry.subscribes),
                retry_delays_s=delays,
                retry_topics=tuple(retry_topics),
                dlq_topic=dlq_topic,
            )
        )
    return Topology(topics=topics, groups=groups, source=source)
