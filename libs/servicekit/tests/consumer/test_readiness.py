"""The consumer's lifespan and readiness probe: ready once it consumes, unready (never crashed)
while its topics are missing or its broker is unreachable."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from servicekit.db.engine import Database
from servicekit.events.consumer import ConsumerNotReady
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


async def test_lifespan_and_readiness_probe(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    registry = HandlerRegistry()
    recording_handler(registry, topics.group)(no_op)
    consumer = consumer_for(topics, database, registry)
    with pytest.raises(ConsumerNotReady):
        await consumer.probe()

    async def ready() -> bool:
        try:
            await consumer.probe()
        except ConsumerNotReady:
            return False
        return True

    async with consumer.lifespan(FastAPI()):
        await eventually(ready, what="the consumer to be ready")
        await publish(producer, topics.source, envelope_of(thing(1)))
        await effect_count_reaches(database, topics.group, 1)
        assert fetch_failing(topics.group) == 0
    with pytest.raises(ConsumerNotReady):
        await consumer.probe()


async def test_missing_group_topics_keep_the_consumer_unready_without_crashing(
    make_topics: Callable[..., Topics], database: Database
) -> None:
    topics = make_topics(tiers=0)
    registry = HandlerRegistry()
    consumer = consumer_for(topics, database, registry, retry_delays_s=(0.2,))  # no .retry.1
    async with running(consumer):
        await eventually(
            lambda: ("MissingTopics" in repr(consumer._last_error)), what="the missing topics"
        )
        with pytest.raises(ConsumerNotReady, match=r"retry\.1"):
            await consumer.probe()


async def test_an_unreachable_broker_keeps_the_consumer_unready_without_crashing(
    topics: Topics, database: Database
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody_listens = f"127.0.0.1:{probe.getsockname()[1]}"
    topics.servers = nobody_listens
    consumer = consumer_for(topics, database, HandlerRegistry())
    async with running(consumer):
        await eventually(
            lambda: "KafkaConnectionError" in repr(consumer._last_error), what="a connection error"
        )
        with pytest.raises(ConsumerNotReady):
            await consumer.probe()
        assert fetch_failing(topics.group) == 1  # FlotillaConsumerNotFetching's series
