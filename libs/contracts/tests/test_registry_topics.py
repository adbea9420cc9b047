"""The event registry against the topic file: every event type is published on its producer's
declared aggregate stream, and what breaks that rule is reported by name."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from contracts.base import Event
from contracts.checks import registry_problems
from contracts.registry import EVENT_TYPES
from contracts.topology import Topology


def test_the_registry_agrees_with_the_topic_file(topology: Topology) -> None:
    assert registry_problems(EVENT_TYPES, topology) == []


def test_an_event_on_an_undeclared_or_foreign_topic_is_reported(topology: Topology) -> None:
    class ShippedV1(Event):
        """An order left the warehouse."""

        EVENT_TYPE: ClassVar[str] = "shipping.order.shipped.v1"
        TOPIC: ClassVar[str] = "shipping.order"
        SUBJECT_FIELD: ClassVar[str] = "order_id"

        order_id: str

    class ImpostorV1(Event):
        EVENT_TYPE: ClassVar[str] = "identity.user.renamed.v1"
        TOPIC: ClassVar[str] = "identity.users"
        SUBJECT_FIELD: ClassVar[str] = "user_id"

        user_id: str

    problems = registry_problems(
        {ShippedV1.EVENT_TYPE: ShippedV1, ImpostorV1.EVENT_TYPE: ImpostorV1}, topology
    )
    assert problems == [
        "identity.user.renamed.v1: TOPIC is 'identity.users'; it must be its producer's "
        "aggregate stream 'identity.user'",
        f"identity.user.renamed.v1: topic 'identity.users' is not declared in {_shown(topology)}",
        "identity.user.renamed.v1: describe the event in its class docstring",
        "identity.user.renamed.v1: field 'user_id' needs a description (Field(description=...))",
        f"shipping.order.shipped.v1: topic 'shipping.order' is not declared in {_shown(topology)}",
        "shipping.order.shipped.v1: field 'order_id' needs a description (Field(description=...))",
    ]


def _shown(topology: Topology) -> str:
    assert topology.source is not None
    try:
        return str(topology.source.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(topology.source)
