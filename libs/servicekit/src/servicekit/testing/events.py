"""Helpers for tests of the events backbone against the real broker and Postgres (used by
servicekit's and the services' tests; nothing here fakes our own infrastructure)."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import Field
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from contracts.base import Event
from servicekit.db.bootstrap import RoleSpec, ensure_role_and_schema, role_spec
from servicekit.db.models import new_metadata
from servicekit.events.kafka_security import KafkaSecurity
from servicekit.events.tables import add_event_tables
from servicekit.settings import ServiceSettings


class ThingHappened(Event):
    """A test-only event; `topic_for` makes a subclass bound to a per-test topic."""

    EVENT_TYPE: ClassVar[str] = "relayit.thing.happened.v1"
    TOPIC: ClassVar[str] = "relayit.thing"
    SUBJECT_FIELD: ClassVar[str] = "thing_id"

    thing_id: str
    sequence: int = Field(ge=0)


def event_on_topic(topic: str) -> type[ThingHappened]:
    return type("ThingHappenedOnTopic", (ThingHappened,), {"TOPIC": topic})


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def prepare_event_tables(admin_url: str, settings: ServiceSettings) -> None:
    """Role, schema and the outbox/inbox tables, as a service's bootstrap would make them."""
    spec: RoleSpec = role_spec(settings)
    await ensure_role_and_schema(admin_url, spec)
    engine = create_async_engine(
        settings.database_url.get_secret_value(),
        poolclass=NullPool,
        hide_parameters=True,  # as every engine: errors never carry the values
        connect_args={"server_settings": {"search_path": spec.schema}},
    )
    metadata = new_metadata()
    add_event_tables(metadata)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    await engine.dispose()


@dataclass(frozen=True)
class Record:
    key: str
    value: bytes
    headers: dict[str, str]
    partition: int
    offset: int


async def read_topic(
    bootstrap_servers: str,
    topic: str,
    at_least: int,
    timeout_s: float = 30.0,
    where: Callable[[Record], bool] | None = None,
    *,
    security: KafkaSecurity | None = None,
) -> list[Record]:
    """Everything on `topic` from the beginning, once at least `at_least` records arrived.

    With `where`, only the records it accepts count and are returned: a test reading a shared
    topic (`orders.order`) picks out its own aggregates' records by key."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        **(security or KafkaSecurity()).client_options(),
    )
    await consumer.start()
    records: list[Record] = []
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while len(records) < at_least and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                fetched = (
                    Record(
                        key=m.key.decode() if m.key else "",
                        value=m.value or b"",
                        headers={name: value.decode() for name, value in m.headers},
                        partition=m.partition,
                        offset=m.offset,
                    )
                    for m in messages
                )
                records.extend(r for r in fetched if where is None or where(r))
    finally:
        await consumer.stop()
    return records


async def committed_offset(
    bootstrap_servers: str,
    group: str,
    topic: str,
    partition: int,
    *,
    security: KafkaSecurity | None = None,
) -> int:
    """The next offset `group` will read on the partition (-1 before its first commit).

    A group commits a record's offset only once its outcome is final, so a committed offset
    past a record says the record was handled: how a test knows that a duplicate or an
    out-of-order event was consumed and changed nothing."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, **(security or KafkaSecurity()).client_options()
    )
    await admin.start()
    try:
        tp = TopicPartition(topic, partition)
        offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
    finally:
        await admin.close()
    committed = offsets.get(tp)
    return committed.offset if committed is not None else -1


async def eventually(
    condition: Callable[[], Awaitable[bool] | bool],
    timeout_s: float = 30.0,
    what: str = "condition",
) -> None:
    """Wait until `condition()` (a coroutine function or a plain one) holds, checking every
    50 ms; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
