"""The event bus's grants, derived from the topic file: each service publishes only on its own
topics, consumes only what its group subscribes to, and owns only its group's tiers."""

from __future__ import annotations

import pytest

from contracts.acls import Grant, service_grants, service_principals
from contracts.topology import Topology

pytestmark = pytest.mark.unit


def test_one_principal_per_service_that_uses_the_bus(topology: Topology) -> None:
    assert service_principals(topology) == [
        "catalog",
        "identity",
        "notifications",
        "orders",
        "payments",
    ]


def test_orders_grants_are_exactly_its_topic_its_tiers_and_its_subscriptions(
    topology: Topology,
) -> None:
    assert service_grants(topology)["orders"] == [
        Grant("cluster", "kafka-cluster", ("IdempotentWrite",)),
        Grant("group", "orders", ("Read", "Describe")),
        Grant("topic", "catalog.stock", ("Read", "Describe")),
        Grant("topic", "orders.dlq", ("Read", "Write", "Describe")),
        Grant("topic", "orders.order", ("Write", "Describe")),
        Grant("topic", "orders.retry.1", ("Read", "Write", "Describe")),
        Grant("topic", "orders.retry.2", ("Read", "Write", "Describe")),
        Grant("topic", "payments.payment", ("Read", "Describe")),
    ]


def test_a_publisher_without_a_group_may_only_write_its_own_topic(topology: Topology) -> None:
    assert service_grants(topology)["identity"] == [
        Grant("cluster", "kafka-cluster", ("IdempotentWrite",)),
        Grant("topic", "identity.user", ("Write", "Describe")),
    ]


def test_only_a_topic_owner_may_write_it(topology: Topology) -> None:
    grants = service_grants(topology)
    for topic in topology.topics:
        writers = sorted(
            service
            for service, granted in grants.items()
            for grant in granted
            if grant.resource_type == "topic"
            and grant.name == topic.name
            and "Write" in grant.operations
        )
        assert writers == [topic.owner], topic.name


def test_no_service_may_use_another_services_group(topology: Topology) -> None:
    for service, granted in service_grants(topology).items():
        groups = [grant.name for grant in granted if grant.resource_type == "group"]
        assert groups in ([], [service])
