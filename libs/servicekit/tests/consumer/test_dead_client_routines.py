"""aiokafka runs each client's work in background routines (group coordination, fetching,
sending, metadata) and never restarts one that fails unexpectedly: the client stays broken
while it seems to run. The consumer notices such a death and replaces its clients, so it
consumes again — instead of retrying a dead client for ever, as one service did after a Kafka
restart in our chaos test (its coordination died of the error `closed_transport.py` names)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from servicekit.db.engine import Database
from servicekit.events.client_routines import KafkaClientDied, dead_routine
from servicekit.events.consumer import EventConsumer
from servicekit.events.handlers import HandlerRegistry
from servicekit.testing.consumer import (
    Topics,
    consumer_for,
    effect_count_reaches,
    envelope_of,
    fetch_failing,
    no_op,
    publish,
    recording_handler,
    running,
    thing,
)
from servicekit.testing.events import eventually

_CLOSED = "unable to perform operation on <TCPTransport closed=True>; the handler is closed"


async def test_a_consumer_whose_group_coordination_died_is_rebuilt_and_consumes_again(
    topics: Topics,
    database: Database,
    producer: AIOKafkaProducer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(no_op)
    consumer = consumer_for(topics, database, registry)
    async with running(consumer):
        await publish(producer, topics.source, envelope_of(thing(1)))
        await effect_count_reaches(database, topics.group, 1)
        broken = _kill_group_coordination(consumer, monkeypatch)
        await eventually(
            lambda: dead_routine(broken) is not None, what="the coordination routine to die"
        )

        await publish(producer, topics.source, envelope_of(thing(2)))
        await effect_count_reaches(database, topics.group, 2)
        assert fetch_failing(topics.group) == 0  # fetching again
        assert isinstance(consumer._last_error, KafkaClientDied)
        assert "group coordination" in str(consumer._last_error)
        assert consumer._consumer is not broken


def _kill_group_coordination(
    consumer: EventConsumer, monkeypatch: pytest.MonkeyPatch
) -> AIOKafkaConsumer:
    """What a write to a socket uvloop had closed did to aiokafka's coordination routine:
    the coordinator looked up again, and the lookup raising `RuntimeError`."""
    client = consumer._consumer
    assert client is not None

    async def lookup_on_a_closed_socket(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError(_CLOSED)

    monkeypatch.setattr(client._client, "coordinator_lookup", lookup_on_a_closed_socket)
    client._coordinator.coordinator_dead()
    return client
