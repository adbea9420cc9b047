"""The event consumer: one consumer group per service, handlers by event type, at-least-once
delivery made effectively-once by the inbox.

    consumer = EventConsumer.for_group("notifications", registry, database=database,
                                       outbox=outbox, bootstrap_servers=...)
    app = create_app(settings, lifespan_hooks=[consumer.lifespan],
                     extra_checks=[DependencyCheck("kafka", consumer.probe)])

A service names its group and nothing else: the topics it subscribes to and its retry delays
are the group's declaration in deploy/topics.yaml (`contracts.topology`), the one place they
live. A test that consumes with a group of its own passes a `ConsumerGroup` instead
(`ConsumerGroup.declare(name, topics, delays)`). The constructor, which takes them one by one,
is for servicekit's own tests.

The group subscribes to its source topics and its own retry topics (`retry.py`); the group's
retry and dead-letter topics must exist. Records are processed per partition in order, in
parallel across partitions (`partitions.py`), each one to an outcome (`processing.py`:
`screening.py`, then the inbox and the handler, then `escalation.py` when it fails); the
records already fetched for a partition are handled in batches, one transaction each.
Offsets are committed only for records whose outcome is final: the handler's transaction
committed, or the record was acknowledged by a retry or dead-letter topic. Before partitions
are revoked their in-flight records are finished (or abandoned after `shutdown_timeout_s`)
and their offsets committed, so the next owner starts where this one stopped; whatever a crash
loses is delivered again and deduplicated by the inbox.

`start()` returns at once: connecting, and reconnecting after a failure, happen in the
background (a broker outage must not stop the service from starting); `probe()` says whether
the consumer is consuming, and `flotilla_consumer_fetch_failing{group}` is 1 while it cannot
fetch (alert FlotillaConsumerNotFetching).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.trace import TracerProvider

from contracts.registry import TOPIC_OWNERS
from contracts.topology import ConsumerGroup, load_topology
from servicekit.db.engine import Database
from servicekit.events.dead_letters import dlq_topic as default_dlq_topic
from servicekit.events.forwarding import Forwarder
from servicekit.events.handlers import HandlerRegistry
from servicekit.events.kafka_clients import (
    MissingTopics,
    check_group_topics,
    fetch_until_stopped,
    forwarding_producer,
    group_consumer,
    supervise,
)
from servicekit.events.kafka_security import KafkaSecurity
from servicekit.events.metrics import CONSUMER_FETCH_FAILING
from servicekit.events.outages import Outages
from servicekit.events.outbox import Outbox
from servicekit.events.partitions import Partitions, RevokeAndAssign
from servicekit.events.processing import RecordProcessor
from servicekit.events.retry import RetryPolicy
from servicekit.events.slots import ConcurrencySlots
from servicekit.health import NotReady

__all__ = ["ConsumerNotReady", "ConsumerPaused", "EventConsumer", "MissingTopics"]

log = logging.getLogger(__name__)

_RESTART_BACKOFF_S = (0.5, 10.0)


class ConsumerNotReady(RuntimeError):
    """The consumer is not connected and consuming (readiness probe failure)."""


class ConsumerPaused(ConsumerNotReady, NotReady):
    """Paused for an unavailable dependency (`outages.py`); /readyz shows why."""


class EventConsumer:
    def __init__(
        self,
        *,
        group: str,
        topics: Sequence[str],
        registry: HandlerRegistry,
        database: Database,
        outbox: Outbox,
        bootstrap_servers: str,
        retry_delays_s: Sequence[float] = (5.0, 60.0, 600.0),
        dlq_topic: str | None = None,
        in_place_attempts: int = 3,
        in_place_backoff_s: float = 0.1,
        max_concurrency: int = 8,
        max_poll_records: int = 100,
        handler_timeout_s: float = 30.0,
        max_batch_size: int = 100,
        batch_timeout_s: float | None = None,
        max_event_bytes: int = 1024 * 1024,
        unknown_types: Literal["skip", "dlq"] = "skip",
        shutdown_timeout_s: float = 10.0,
        tracer_provider: TracerProvider | None = None,
        client_id: str | None = None,
        consumer_options: Mapping[str, Any] | None = None,
        producer_options: Mapping[str, Any] | None = None,
        security: KafkaSecurity | None = None,
        topic_owners: Mapping[str, str] | None = None,
    ) -> None:
        """`retry_delays_s[n-1]` is tier n's delay (topic `<group>.retry.<n>`); `max_concurrency`
        bounds records processed at once across partitions; `max_event_bytes` larger values
        are dead-lettered unparsed; `handler_timeout_s` bounds one attempt (a timeout is a
        transient failure); `consumer_options`/`producer_options` go to aiokafka as they are
        (session timeouts); `security` authenticates both clients (`kafka_security.py`).
        `topic_owners` maps a topic to the service that owns it (default: every contract
        event's topic and producer, which CI checks against deploy/topics.yaml); a record on
        such a topic whose type another service owns is dead-lettered. A partition's records
        already fetched are handled in batches of up to `max_batch_size`, in one transaction
        each; a batch that fails, or outlasts `batch_timeout_s` (default
        `min(handler_timeout_s, 5)`), is rolled back and handled record by record."""
        if not group or not topics:
            raise ValueError("a consumer needs a group and at least one topic")
        if max_concurrency < 1 or not 1 <= max_poll_records <= 10_000:
            raise ValueError("max_concurrency must be >= 1 and max_poll_records in 1..10000")
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        if unknown_types not in ("skip", "dlq"):
            raise ValueError("unknown_types must be 'skip' or 'dlq'")
        self.group = group
        self.topics = tuple(topics)
        self.policy = RetryPolicy(tuple(retry_delays_s), in_place_attempts, in_place_backoff_s)
        self.retry_topics = tuple(self.policy.topics(group))
        self.dlq_topic = dlq_topic or default_dlq_topic(group)
        self._registry = registry
        self._database = database
        self._outbox = outbox
        self._bootstrap_servers = bootstrap_servers
        self._max_concurrency = max_concurrency
        self._max_poll_records = max_poll_records
        self._handler_timeout_s = handler_timeout_s
        self._max_batch_size = max_batch_size
        self._batch_timeout_s = batch_timeout_s
        self._max_event_bytes = max_event_bytes
        self._unknown_types = unknown_types
        self._shutdown_timeout_s = shutdown_timeout_s
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        self._client_id = client_id or f"{group}-consumer"
        self._consumer_options = dict(consumer_options or {})
        self._producer_options = dict(producer_options or {})
        self._security = security or KafkaSecurity()
        self._topic_owners = dict(topic_owners if topic_owners is not None else TOPIC_OWNERS)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: Partitions | None = None
        self._last_error: BaseException | None = None

    @classmethod
    def for_group(
        cls,
        group: str | ConsumerGroup,
        registry: HandlerRegistry,
        *,
        database: Database,
        outbox: Outbox,
        bootstrap_servers: str,
        **options: Any,
    ) -> EventConsumer:
        """The consumer of a group as the topic file declares it (a name): its topics, retry
        delays and dead-letter topic; raises ValueError for a group the file does not declare.
        A `ConsumerGroup` is used as it is: a test's own group (`ConsumerGroup.declare`), or
        one the caller has loaded already. `options` are the constructor's tuning
        (concurrency, batches, security)."""
        if isinstance(group, str):
            try:
                group = load_topology().group(group)
            except KeyError as error:
                raise ValueError(error.args[0]) from None
        return cls(
            group=group.name,
            topics=group.subscribes,
            registry=registry,
            database=database,
            outbox=outbox,
            bootstrap_servers=bootstrap_servers,
            retry_delays_s=group.retry_delays_s,
            dlq_topic=group.dlq_topic,
            **options,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def registry(self) -> HandlerRegistry:
        return self._registry

    @property
    def subscribed_topics(self) -> tuple[str, ...]:
        return (*self.topics, *self.retry_topics)

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions this instance currently works on."""
        return self._partitions.assigned if self._partitions is not None else frozenset()

    async def start(self) -> None:
        """Start consuming in the background; connection failures are retried there."""
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name=f"{self.group}-event-consumer")

    async def stop(self) -> None:
        """Finish in-flight records (abandon them after `shutdown_timeout_s`), commit what
        committed, leave the group and close the producer."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=self._shutdown_timeout_s + 15)
            self._task = None

    def use_tracer_provider(self, provider: TracerProvider) -> None:
        """Before `start`: for a consumer built before the app whose tracer provider it uses."""
        self._tracer = trace.get_tracer(__name__, tracer_provider=provider)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def probe(self) -> None:
        """Readiness, for `DependencyCheck("kafka", consumer.probe)`: raises unless consuming
        (not paused for an unavailable dependency, `outages.py`) and the broker answers."""
        consumer = self._consumer
        if consumer is None or self._stopping.is_set():
            raise ConsumerNotReady(f"not consuming (last error: {self._last_error!r})")
        if self._partitions is not None and self._partitions.paused_for is not None:
            raise ConsumerPaused(f"paused: {self._partitions.paused_for} unavailable")
        await consumer.topics()  # a metadata round trip

    # -- running: supervised (restarted after a failure), then wired and fetching ------------

    async def _run(self) -> None:
        await supervise(self._consume, self._stopping, self._interrupted, _RESTART_BACKOFF_S)

    def _interrupted(self, error: Exception) -> None:
        self._last_error = error
        CONSUMER_FETCH_FAILING.labels(self.group).set(1)
        outage = isinstance(error, KafkaConnectionError | MissingTopics)
        log.log(
            logging.WARNING if outage else logging.ERROR,
            "event consumer interrupted; restarting: %r",
            error,
            exc_info=None if outage else error,
            extra={"group": self.group},
        )

    async def _consume(self) -> None:
        security = self._security.client_options()
        producer = forwarding_producer(
            self._bootstrap_servers,
            f"{self._client_id}-forwarder",
            self._max_event_bytes,
            {**security, **self._producer_options},
        )
        consumer = group_consumer(
            self._bootstrap_servers,
            self.group,
            self._client_id,
            self._max_poll_records,
            {**security, **self._consumer_options},
        )
        slots = ConcurrencySlots(self._max_concurrency)
        outages = Outages(
            group=self.group,
            probes={"database": self._database.ping, "kafka": producer.client.fetch_all_metadata},
        )
        partitions: Partitions | None = None
        try:
            await producer.start()
            await consumer.start()
            await check_group_topics(
                consumer, (*self.retry_topics, self.dlq_topic), sources=self.topics
            )
            processor = RecordProcessor(
                group=self.group,
                registry=self._registry,
                database=self._database,
                outbox=self._outbox,
                forwarder=Forwarder(
                    producer, group=self.group, dlq_topic=self.dlq_topic, sleep=slots.sleep_outside
                ),
                policy=self.policy,
                retry_topics=list(self.retry_topics),
                handler_timeout_s=self._handler_timeout_s,
                max_event_bytes=self._max_event_bytes,
                unknown_types=self._unknown_types,
                topic_owners=self._topic_owners,
                tracer=self._tracer,
                batch_timeout_s=self._batch_timeout_s,
                outages=outages,
            )
            partitions = Partitions(
                group=self.group,
                consumer=consumer,
                processor=processor,
                retry_topics=self.retry_topics,
                longest_retry_delay_s=self.policy.longest_delay_s,
                slots=slots,
                outages=outages,
                queue_limit=max(self._max_poll_records, 2 * self._max_batch_size),
                max_batch_size=self._max_batch_size,
            )
            self._partitions = partitions
            listener = RevokeAndAssign(self.group, partitions, self._shutdown_timeout_s)
            consumer.subscribe(topics=list(self.subscribed_topics), listener=listener)
            partitions.start_committing()
            self._consumer = consumer
            log.info("event consumer started", extra={"group": self.group})
            await fetch_until_stopped(
                consumer,
                partitions,
                self._stopping,
                self._max_poll_records,
                self._fetch_failed,
                fetching=self._fetching,
                producer=producer,
            )
        finally:
            self._consumer = None
            if partitions is not None:
                # On a stop, in-flight records may finish; after a failure they are abandoned.
                grace_s = self._shutdown_timeout_s if self._stopping.is_set() else 0.0
                with contextlib.suppress(Exception):
                    await partitions.close(grace_s=grace_s)
            self._partitions = None
            for client in (consumer, producer):
                with contextlib.suppress(Exception):
                    await client.stop()
            log.info("event consumer stopped", extra={"group": self.group})

    def _fetch_failed(self, error: KafkaError) -> None:
        self._last_error = error
        CONSUMER_FETCH_FAILING.labels(self.group).set(1)
        log.warning("fetching failed: %r", error, extra={"group": self.group})

    def _fetching(self) -> None:
        CONSUMER_FETCH_FAILING.labels(self.group).set(0)
