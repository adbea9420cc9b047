"""The CONSUMER span: it continues the producer's trace, carries the messaging attributes, and
the outbox rows its handler appends continue the same trace."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaProducer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db.engine import Database
from servicekit.events.handlers import EventContext, HandlerRegistry
from servicekit.events.tables import OUTBOX
from servicekit.testing.consumer import (
    ThingHappenedV1,
    ThingNotedV1,
    Topics,
    consumer_for,
    envelope_of,
    publish,
    running,
    thing,
)
from servicekit.testing.events import eventually


async def test_the_consumer_span_continues_the_producers_trace_into_the_outbox(
    topics: Topics, database: Database, producer: AIOKafkaProducer
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = HandlerRegistry()

    @registry.on(ThingHappenedV1)
    async def note_it(session: AsyncSession, event: ThingHappenedV1, context: EventContext) -> None:
        await context.outbox.append(session, ThingNotedV1(thing_id=event.thing_id))

    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    incoming = envelope_of(
        thing(1, f"traced-{topics.group}"), traceparent=f"00-{trace_id}-{parent_id}-01"
    )
    offset = await publish(producer, topics.source, incoming)

    async def noted() -> bool:
        async with database.transaction() as session:
            rows = await session.execute(
                select(OUTBOX.c.headers).where(OUTBOX.c.key == f"traced-{topics.group}")
            )
            return rows.first() is not None

    async with running(consumer_for(topics, database, registry, tracer_provider=provider)):
        await eventually(noted, what="the handler's outbox row")
    async with database.transaction() as session:
        headers = (
            await session.execute(
                select(OUTBOX.c.headers).where(OUTBOX.c.key == f"traced-{topics.group}")
            )
        ).scalar_one()

    [span] = [s for s in exporter.get_finished_spans() if s.name == f"process {topics.source}"]
    assert span.kind is SpanKind.CONSUMER
    assert span.parent is not None
    assert span.parent.span_id == int(parent_id, 16)
    assert span.context.trace_id == int(trace_id, 16)
    attributes = dict(span.attributes or {})
    expected = {
        "messaging.system": "kafka",
        "messaging.destination.name": topics.source,
        "messaging.operation.type": "process",
        "messaging.kafka.consumer.group": topics.group,
        "messaging.message.id": incoming.id,
        "messaging.kafka.message.key": incoming.subject,
        "messaging.destination.partition.id": "0",
        "messaging.kafka.offset": offset,
    }
    assert {name: attributes.get(name) for name in expected} == expected
    assert not any("seq" in str(value) for value in attributes.values())  # never the payload
    _, out_trace, out_parent, _ = headers["traceparent"].split("-")
    assert out_trace == trace_id
    assert int(out_parent, 16) == span.context.span_id
