"""Events scenario: Flotilla's outbox → relay → Kafka → idempotent consumer → handler commit,
beside raw aiokafka produce → consume, on the same broker in the same run.

Two measures each:
- sustained throughput: N events appended (or produced) as fast as possible, timed until the
  last one is handled (or consumed);
- latency at a fixed arrival rate: p50/p99 from append (or send) to handler commit (or receipt).

Run by `make bench` against the bench stack (its own Postgres and Kafka).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from devstack.kafka import TopicSpec
from devstack.profiles import profile
from devstack.stack import Stack
from servicekit.db.engine import Database
from servicekit.events.consumer import EventConsumer
from servicekit.events.handlers import EventContext, HandlerRegistry
from servicekit.events.outbox import Outbox
from servicekit.events.relay import OutboxRelay
from servicekit.settings import ServiceSettings
from servicekit.testing.events import ThingHappened, event_on_topic, prepare_event_tables, unique


@dataclass
class Measure:
    events_per_s: float
    p50_ms: float
    p99_ms: float


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


async def _at_rate(count: int, rate: float, emit: Callable[[int], Awaitable[None]]) -> None:
    """Emit `count` items at `rate` per second (open loop: late emits do not slow the next)."""
    started = time.perf_counter()
    tasks = []
    for index in range(count):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(emit(index)))
    await asyncio.gather(*tasks)


# -- Flotilla --------------------------------------------------------------------------------


class FlotillaPipeline:
    def __init__(self, settings: ServiceSettings, topic: str, group: str) -> None:
        self.database = Database.from_settings(settings)
        self.outbox = Outbox(settings.service_name)
        self.model = event_on_topic(topic)
        self.appended: dict[int, float] = {}
        self.handled: dict[int, float] = {}
        self.done = asyncio.Event()
        self.expected = 0
        registry = HandlerRegistry()
        registry.on(self.model)(self._handle)
        self.relay = OutboxRelay(
            service=settings.service_name,
            database=self.database,
            outbox=self.outbox,
            bootstrap_servers=str(settings.kafka_bootstrap_servers),
            security=settings.kafka_security(),
        )
        self.consumer = EventConsumer(
            group=group,
            topics=[topic],
            registry=registry,
            database=self.database,
            outbox=self.outbox,
            bootstrap_servers=str(settings.kafka_bootstrap_servers),
            security=settings.kafka_security(),
            retry_delays_s=(1.0,),
        )

    async def _handle(
        self, session: AsyncSession, event: ThingHappened, context: EventContext
    ) -> None:
        def committed(_: object) -> None:
            self.handled[event.sequence] = time.perf_counter()
            if len(self.handled) >= self.expected:
                self.done.set()

        sa_event.listen(session.sync_session, "after_commit", committed, once=True)

    async def append(self, sequences: range) -> None:
        async with self.database.transaction() as session:
            now = time.perf_counter()
            for sequence in sequences:
                self.appended[sequence] = now
            await self.outbox.append_many(
                session,
                [self.model(thing_id=f"thg_{s % 64}", sequence=s) for s in sequences],
            )

    def reset(self, expected: int) -> None:
        self.appended.clear()
        self.handled.clear()
        self.done.clear()
        self.expected = expected

    async def start(self) -> None:
        await self.relay.start()
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.relay.stop()
        await self.database.dispose()


async def flotilla_sustained(pipeline: FlotillaPipeline, count: int, offset: int) -> float:
    pipeline.reset(count)
    batch = 50
    started = time.perf_counter()

    async def writer(first: int) -> None:
        for start in range(first, count, batch * 4):
            await pipeline.append(range(offset + start, offset + min(start + batch, count)))

    await asyncio.gather(*(writer(n * batch) for n in range(4)))
    await asyncio.wait_for(pipeline.done.wait(), timeout=300)
    return count / (max(pipeline.handled.values()) - started)


async def flotilla_latency(
    pipeline: FlotillaPipeline, count: int, rate: float, offset: int
) -> list[float]:
    pipeline.reset(count)
    await _at_rate(count, rate, lambda i: pipeline.append(range(offset + i, offset + i + 1)))
    await asyncio.wait_for(pipeline.done.wait(), timeout=120)
    return [pipeline.handled[s] - pipeline.appended[s] for s in pipeline.handled]


# -- raw aiokafka ----------------------------------------------------------------------------


async def raw_run(
    servers: str, topic: str, count: int, rate: float | None, options: dict[str, Any]
) -> tuple[float, list[float]]:
    """Raw aiokafka, as the baseline; `options` authenticate it like the pipeline."""
    producer = AIOKafkaProducer(
        bootstrap_servers=servers, acks="all", enable_idempotence=True, linger_ms=5, **options
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=unique("bench-raw-"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **options,
    )
    await producer.start()
    await consumer.start()
    sent: dict[int, float] = {}
    received: dict[int, float] = {}

    async def consume() -> None:
        while len(received) < count:
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    received[int(record.value or b"0")] = now
            if batch:
                await consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()})

    async def send(index: int) -> None:
        sent[index] = time.perf_counter()
        await (await producer.send(topic, str(index).encode(), key=f"thg_{index % 64}".encode()))

    try:
        # A new group reads from the earliest offset, so records sent before it joins count too.
        reader = asyncio.create_task(consume())
        started = time.perf_counter()
        if rate is None:
            await asyncio.gather(*(send(index) for index in range(count)))
        else:
            await _at_rate(count, rate, send)
        await asyncio.wait_for(reader, timeout=120)
        throughput = count / (max(received.values()) - started)
        return throughput, [received[i] - sent[i] for i in received]
    finally:
        await consumer.stop()
        await producer.stop()


# -- the scenario ----------------------------------------------------------------------------


async def run(count: int, rate: float, seconds: float, profile_name: str = "bench") -> None:
    stack = Stack(profile(profile_name))
    if not stack.kafka.is_running():
        raise SystemExit("the bench stack is not running: use `make bench`")
    stack.postgres.ensure_database("bench_events")
    admin_url = stack.postgres.admin_dsn("bench_events", driver="postgresql+asyncpg")
    port = stack.postgres.port
    settings = ServiceSettings(
        service_name="bench_events",
        db_schema="bench_events",
        database_url=f"postgresql+asyncpg://bench_events:bench-pw@127.0.0.1:{port}/bench_events",
        **stack.kafka_admin_settings(),
        db_pool_size=10,
    )
    await prepare_event_tables(admin_url, settings)
    group = unique("benchgrp")
    flotilla_topic, raw_topic, raw_paced_topic = (
        unique("bench.flotilla"),
        unique("bench.raw"),
        unique("bench.rawpaced"),
    )
    stack.kafka.create_topics(
        [
            TopicSpec(flotilla_topic, partitions=3),
            TopicSpec(raw_topic, partitions=3),
            TopicSpec(raw_paced_topic, partitions=3),
            TopicSpec(f"{group}.retry.1", partitions=3),
            TopicSpec(f"{group}.dlq", partitions=1),
        ]
    )
    paced = int(rate * seconds)

    servers, options = stack.kafka.bootstrap_servers, stack.kafka.client_options()
    raw_sustained, _ = await raw_run(servers, raw_topic, count, None, options)
    _, raw_latencies = await raw_run(servers, raw_paced_topic, paced, rate, options)

    pipeline = FlotillaPipeline(settings, flotilla_topic, group)
    await pipeline.start()
    try:
        await flotilla_latency(pipeline, 200, rate, offset=10_000_000)  # warm-up
        sustained = await flotilla_sustained(pipeline, count, offset=0)
        latencies = await flotilla_latency(pipeline, paced, rate, offset=20_000_000)
    finally:
        await pipeline.stop()

    flotilla = Measure(sustained, _percentile(latencies, 50), _percentile(latencies, 99))
    raw = Measure(raw_sustained, _percentile(raw_latencies, 50), _percentile(raw_latencies, 99))
    print(f"\nevents: {count} sustained, then {paced} at {rate:.0f}/s (3 partitions, acks=all)")
    print(f"{'':28}{'flotilla':>12}{'raw aiokafka':>15}{'ratio':>8}")
    print(
        f"{'sustained events/s':28}{flotilla.events_per_s:12,.0f}{raw.events_per_s:15,.0f}"
        f"{flotilla.events_per_s / raw.events_per_s:8.2f}"
    )
    print(
        f"{f'p50 ms at {rate:.0f}/s':28}{flotilla.p50_ms:12.1f}{raw.p50_ms:15.1f}"
        f"{flotilla.p50_ms / raw.p50_ms:8.2f}"
    )
    print(
        f"{f'p99 ms at {rate:.0f}/s':28}{flotilla.p99_ms:12.1f}{raw.p99_ms:15.1f}"
        f"{flotilla.p99_ms / raw.p99_ms:8.2f}"
    )
    print("flotilla: outbox append -> relay -> Kafka -> consumer -> inbox + handler commit")
    print("raw:      producer send -> consumer receipt (no database)")
    sustained_ratio = flotilla.events_per_s / raw.events_per_s
    print(
        f"goal: sustained >= 0.6 of raw aiokafka: {'met' if sustained_ratio >= 0.6 else 'NOT met'}"
        f"; p99 < 100 ms at {rate:.0f}/s: {'met' if flotilla.p99_ms < 100 else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--profile", default="bench", help="the running stack to measure on (make bench's)"
    )
    args = parser.parse_args()
    asyncio.run(run(args.count, args.rate, args.seconds, args.profile))


if __name__ == "__main__":
    main()
