"""Fault tests across the whole shop: a service killed mid-flow, Postgres or Kafka killed or
frozen mid-storm, the provider down for longer than payments waits. `make chaos` runs them
all; `make test` runs those that take well under two minutes and skips the ones marked
`chaos`, unless FLOTILLA_CHAOS=1 (which `make chaos` sets; by hand:
`FLOTILLA_CHAOS=1 FLOTILLA_PROFILE=test pytest tests/chaos -k ...`)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.topology import load_topology
from devstack.process import port_open
from devstack.profiles import Profile
from devstack.provider_keys import provider_client
from devstack.shop import Customer, Shop
from devstack.stack import ADMIN_EMAIL, Stack
from servicekit.events.kafka_security import KafkaSecurity
from servicekit.testing.events import eventually


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: a fault test longer than a minute; only `make chaos` runs it"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("FLOTILLA_CHAOS") == "1":
        return
    skip = pytest.mark.skip(reason="a chaos test: `make chaos` runs it (FLOTILLA_CHAOS=1)")
    for item in items:
        if item.get_closest_marker("chaos"):
            item.add_marker(skip)


@pytest.fixture
async def shop(test_stack: Stack, stack_profile: Profile) -> AsyncIterator[Shop]:
    """A patient client: it rides out a restarting service (502/503/504 for up to a minute),
    as a well-behaved client would, with the same Idempotency-Key on every retry."""
    limits = httpx.Limits(max_connections=50)
    async with (
        httpx.AsyncClient(base_url=stack_profile.gateway_url, timeout=30, limits=limits) as client,
        provider_client(test_stack, timeout=30) as provider,
    ):
        yield Shop(client, provider=provider, patience_s=60.0)


@pytest.fixture
async def admin(shop: Shop, test_stack: Stack) -> Customer:
    return await shop.log_in(ADMIN_EMAIL, test_stack.admin_password)


class Crashes:
    """Kills a service of the running stack as a crash would (SIGKILL), and starts it again as
    `devstack up` started it (exporting traces when the stack runs Jaeger)."""

    def __init__(self, stack: Stack) -> None:
        self._stack = Stack(stack.profile, observability=stack.jaeger.is_running())

    async def kill(self, name: str) -> None:
        service = self._stack.service(name)
        await asyncio.to_thread(service.kill)

        async def port_closed() -> bool:
            return not await asyncio.to_thread(port_open, service.host, service.port)

        # kill() returns once the main thread is a zombie; the process's other threads may
        # hold its listening socket a moment longer, and start() refuses a taken port.
        await eventually(port_closed, timeout_s=10, what=f"{name}'s port to close")

    async def start(self, name: str) -> None:
        """Start it (a no-op when it runs) and wait until it is ready."""
        await asyncio.to_thread(self._stack.service(name).start)


@pytest.fixture
def crashes(test_stack: Stack) -> Crashes:
    return Crashes(test_stack)


class Outages:
    """Takes the running stack's Postgres or Kafka away for `down_s` seconds, as a crash would
    (SIGKILL, then a restart that recovers from the log) or a stall would (SIGSTOP, then
    SIGCONT: connections stay open, nothing answers). Each returns the monotonic time at
    which the dependency was back (started and accepting connections, or continued)."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    async def kill_postgres(self, down_s: float) -> float:
        return await self._away(self._stack.postgres.kill, self._stack.postgres.start, down_s)

    async def kill_kafka(self, down_s: float) -> float:
        return await self._away(self._stack.kafka.kill, self._stack.kafka.start, down_s)

    async def freeze_postgres(self, down_s: float) -> float:
        return await self._away(self._stack.postgres.freeze, self._stack.postgres.thaw, down_s)

    @staticmethod
    async def _away(
        take: Callable[[], None], give_back: Callable[[], None], down_s: float
    ) -> float:
        await asyncio.to_thread(take)
        try:
            await asyncio.sleep(down_s)  # the outage itself, as long as the scenario says
        finally:
            await asyncio.to_thread(give_back)
        return time.monotonic()


@pytest.fixture
def outages(test_stack: Stack) -> Outages:
    return Outages(test_stack)


DeadLetterCount = Callable[[], Awaitable[dict[str, int]]]


@pytest.fixture
def dead_letters(test_stack: Stack) -> DeadLetterCount:
    """Records ever written to each consumer group's dead-letter topic (its end offsets)."""
    security = KafkaSecurity.from_environment(test_stack.kafka_admin_env())
    topics = [group.dlq_topic for group in load_topology().groups]

    async def count() -> dict[str, int]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=test_stack.kafka.bootstrap_servers,
            enable_auto_commit=False,
            **security.client_options(),
        )
        await consumer.start()
        try:
            await consumer.topics()  # metadata of every topic, so their partitions are known
            partitions = [
                TopicPartition(topic, partition)
                for topic in topics
                for partition in consumer.partitions_for_topic(topic) or ()
            ]
            ends = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
        return {topic: sum(ends[tp] for tp in partitions if tp.topic == topic) for topic in topics}

    return count
