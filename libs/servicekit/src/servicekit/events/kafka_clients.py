"""The consumer's Kafka side: its two clients, configured for its guarantees; the check of
the group's topics; the loop that fetches records for `partitions.py`; and the supervisor that
restarts it all, with jittered back-off, after a failure — also when a background routine of
an aiokafka client has died (`client_routines.py`).

The forwarder's producer is idempotent with `acks="all"` (aiokafka's defaults are `acks=1`
without idempotence) and takes records a little larger than the largest event the group
accepts (its headers ride along). The group's consumer never auto-commits: `partitions.py`
commits explicit offsets of records with a final outcome.

While a partition's queue is full (`partitions.py`), the fetch loop asks aiokafka for the other
partitions' records only, and comes back within `_WHILE_FULL_POLL_MS` so that a queue worked
down is fed again from what aiokafka already holds for it, even while the others are idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from servicekit.events import closed_transport
from servicekit.events.client_routines import KafkaClientDied, dead_routine
from servicekit.events.partitions import Partitions

__all__ = [
    "MissingTopics",
    "check_group_topics",
    "fetch_until_stopped",
    "forwarding_producer",
    "group_consumer",
    "supervise",
]

log = logging.getLogger(__name__)

_POLL_TIMEOUT_MS = 250  # how quickly the fetch loop notices a stop
_WHILE_FULL_POLL_MS = 10  # how soon a queue worked down is fetched for while others are idle

closed_transport.install()  # a write to a socket uvloop closed: a broken connection


class MissingTopics(RuntimeError):
    """The group's own retry or dead-letter topics do not exist on the broker."""


def forwarding_producer(
    bootstrap_servers: str, client_id: str, max_event_bytes: int, options: Mapping[str, Any]
) -> AIOKafkaProducer:
    """`options` (security, then the caller's overrides) go to aiokafka as they are."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=15_000,
        max_request_size=max(1024 * 1024, max_event_bytes + 64 * 1024),
        **options,
    )


def group_consumer(
    bootstrap_servers: str,
    group: str,
    client_id: str,
    max_poll_records: int,
    options: Mapping[str, Any],
) -> AIOKafkaConsumer:
    """`options` (security, then the caller's overrides) go to aiokafka as they are."""
    settings: dict[str, Any] = {
        "auto_offset_reset": "earliest",
        "max_poll_records": max_poll_records,
        **options,
    }
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        client_id=client_id,
        enable_auto_commit=False,
        **settings,
    )


async def check_group_topics(
    consumer: AIOKafkaConsumer, own: Iterable[str], *, sources: Iterable[str]
) -> None:
    """Raises `MissingTopics` unless the group's own topics exist; warns of absent sources."""
    existing = await consumer.topics()
    missing = [t for t in own if t not in existing]
    if missing:
        raise MissingTopics(f"the group's topics do not exist: {', '.join(missing)}")
    absent = [t for t in sources if t not in existing]
    if absent:
        log.warning("source topics do not exist yet: %s", ", ".join(absent))


async def fetch_until_stopped(
    consumer: AIOKafkaConsumer,
    partitions: Partitions,
    stopping: asyncio.Event,
    max_records: int,
    failed: Callable[[KafkaError], None],
    *,
    fetching: Callable[[], None] = lambda: None,
    producer: AIOKafkaProducer | None = None,
) -> None:
    """Fetch and dispatch to the partitions' workers; coordinator or fetch errors are reported
    to `failed` and fetching goes on a second later; `fetching` is told of the first fetch
    that succeeds, and of the first after failures. Raises `KafkaClientDied` once a routine
    of the consumer or of `producer` (the forwarder's) has died."""
    clients = (consumer,) if producer is None else (consumer, producer)
    succeeded = False
    while not stopping.is_set():
        died = dead_routine(*clients)
        if died is not None:
            raise KafkaClientDied(died)
        fetchable = partitions.fetchable()
        if fetchable is not None and not fetchable:  # every queue is full
            await partitions.room(_POLL_TIMEOUT_MS / 1000)
            continue
        try:
            if fetchable is None:
                batch = await consumer.getmany(timeout_ms=_POLL_TIMEOUT_MS, max_records=max_records)
            else:  # back soon: a full queue worked down is fetched for again
                batch = await consumer.getmany(
                    *fetchable, timeout_ms=_WHILE_FULL_POLL_MS, max_records=max_records
                )
        except KafkaError as error:
            succeeded = False
            failed(error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 1.0)
            continue
        if not succeeded:
            succeeded = True
            fetching()
        for tp, records in batch.items():
            partitions.dispatch(tp, records)


async def supervise(
    consume: Callable[[], Awaitable[None]],
    stopping: asyncio.Event,
    interrupted: Callable[[Exception], None],
    backoff_s: tuple[float, float],
) -> None:
    """Run `consume` until `stopping` is set, again after each failure (reported to
    `interrupted`) once a jittered, exponentially growing delay has passed."""
    failures = 0
    while not stopping.is_set():
        try:
            await consume()
            failures = 0
        except Exception as error:
            failures += 1
            interrupted(error)
            low, high = backoff_s
            delay = min(high, low * 2 ** (failures - 1)) * (0.5 + random.random() / 2)  # noqa: S311
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
