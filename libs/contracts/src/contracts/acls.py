"""Who may do what on the event bus, derived from the topic file: one principal per service,
least privilege. The local and test brokers get these as Kafka ACLs (devstack), the chart as
Strimzi `KafkaUser` resources; both read `service_grants(load_topology())`.

A service may
    write (and describe) the topics it owns                         to publish its events
    read, write and describe its group's retry and dead-letter      to forward failures there,
      topics                                                        consume its retry tiers and
                                                                    let its DLQ tool read them
    read (and describe) the topics its group subscribes to          to consume them
    read (and describe) its own consumer group                      to join it, commit offsets
    IdempotentWrite on the cluster, when it writes anything         for producer ids: every
                                                                    producer runs with
                                                                    `enable_idempotence=True`

and nothing else: no other service's topics, no other group, no topic creation, no other
cluster operation. (KIP-679 lets a topic Write imply IdempotentWrite, but Kafka 4.3's
StandardAuthorizer refused aiokafka's InitProducerId without the explicit grant, measured
with libs/devstack/tests/test_kafka_auth.py.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contracts.topology import Topology

__all__ = ["CLUSTER", "Grant", "Operation", "ResourceType", "service_grants", "service_principals"]

ResourceType = Literal["topic", "group", "cluster"]
Operation = Literal["Read", "Write", "Describe", "IdempotentWrite"]
CLUSTER = "kafka-cluster"
"""The one name Kafka gives the cluster resource."""

_PUBLISH: tuple[Operation, ...] = ("Write", "Describe")
_CONSUME: tuple[Operation, ...] = ("Read", "Describe")
_OWN_TIER: tuple[Operation, ...] = ("Read", "Write", "Describe")


@dataclass(frozen=True, order=True)
class Grant:
    """Operations allowed on one resource, named literally (never a prefix or `*`)."""

    resource_type: ResourceType
    name: str
    operations: tuple[Operation, ...]


def service_principals(topology: Topology) -> list[str]:
    """Every service that publishes or consumes: a stream topic's owner or a group's name."""
    owners = {topic.owner for topic in topology.topics if topic.role == "stream"}
    return sorted(owners | {group.name for group in topology.groups})


def service_grants(topology: Topology) -> dict[str, list[Grant]]:
    """Each service's grants, sorted, every resource once with its operations merged."""
    wanted: dict[str, dict[tuple[ResourceType, str], set[Operation]]] = {
        service: {} for service in service_principals(topology)
    }

    def allow(service: str, kind: ResourceType, name: str, ops: tuple[Operation, ...]) -> None:
        wanted[service].setdefault((kind, name), set()).update(ops)

    for topic in topology.topics:
        if topic.role == "stream":
            allow(topic.owner, "topic", topic.name, _PUBLISH)
    for group in topology.groups:
        for name in (*group.retry_topics, group.dlq_topic):
            allow(group.name, "topic", name, _OWN_TIER)
        for name in group.subscribes:
            allow(group.name, "topic", name, _CONSUME)
        allow(group.name, "group", group.name, _CONSUME)
    for resources in wanted.values():
        if any("Write" in ops for ops in resources.values()):
            resources[("cluster", CLUSTER)] = {"IdempotentWrite"}
    order = {"Read": 0, "Write": 1, "Describe": 2, "IdempotentWrite": 3}
    return {
        service: sorted(
            Grant(kind, name, tuple(sorted(ops, key=order.__getitem__)))
            for (kind, name), ops in resources.items()
        )
        for service, resources in wanted.items()
    }
