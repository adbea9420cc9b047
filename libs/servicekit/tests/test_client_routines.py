"""A Kafka client whose background routine died is noticed, against the stack's real broker
(`servicekit.events.client_routines`): the routines are found on started clients, and a
producer whose sender died is reported dead (and fails its sends)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from devstack.kafka import TopicSpec
from devstack.stack import Stack
from servicekit.events.client_routines import client_routines, dead_routine

_CLOSED = "unable to perform operation on <TCPTransport closed=True>; the handler is closed"


@pytest.fixture
def topic(test_stack: Stack) -> str:
    name = f"routines.{uuid.uuid4().hex[:10]}"
    test_stack.kafka.create_topics([TopicSpec(name, partitions=1)])
    return name


@pytest.fixture
async def producer(
    test_stack: Stack, kafka_options: dict[str, Any]
) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        request_timeout_ms=5_000,
        **kafka_options,
    )
    await producer.start()
    yield producer
    await producer.stop()


async def test_every_routine_watched_is_found_on_started_clients(
    test_stack: Stack, kafka_options: dict[str, Any], topic: str, producer: AIOKafkaProducer
) -> None:
    """Guards an aiokafka upgrade: a routine renamed would no longer be watched."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        group_id=f"routines-{uuid.uuid4().hex[:10]}",
        **kafka_options,
    )
    await consumer.start()
    try:
        assert set(client_routines(consumer)) == {
            "metadata synchroniser",
            "group coordination",
            "fetcher",
        }
        assert set(client_routines(producer)) == {"metadata synchroniser", "sender"}
        assert dead_routine(consumer, producer) is None
    finally:
        await consumer.stop()
    assert dead_routine(consumer) is None  # stopped: its routines cancelled, not dead


async def test_a_producer_whose_sender_died_fails_its_sends_and_is_reported_dead(
    producer: AIOKafkaProducer, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consumer's check sees it; the outbox relay, which replaces its producer after any
    error, relies on the failed sends."""
    await producer.send_and_wait(topic, b"metadata known")

    async def write_to_a_closed_socket(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(_CLOSED)

    monkeypatch.setattr(producer.client, "send", write_to_a_closed_socket)
    delivery = await producer.send(topic, b"never acknowledged")
    async with asyncio.timeout(30):
        with pytest.raises(KafkaError):
            await delivery
    died = dead_routine(producer)
    assert died is not None
    assert "sender" in died
    assert "RuntimeError" in died
    with pytest.raises(KafkaError):
        await producer.send(topic, b"after")
