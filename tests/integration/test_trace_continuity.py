"""One trace from `POST /v1/users` through identity's outbox, Kafka and the notifications
consumer — asserted on the spans both services export, against the real broker and Postgres."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from email.headerregistry import Address
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from contracts.identity import UserRegisteredV1
from contracts.topology import ConsumerGroup
from devstack.kafka import TopicSpec
from devstack.process import free_port
from devstack.smtp_sink import SmtpSink, read_messages
from devstack.stack import Stack
from identity.main import build_app
from identity.settings import IdentitySettings
from notifications.consumers import build_registry
from notifications.handlers import Emails
from notifications.mailer import SmtpConfig, SmtpMailer, smtp_breaker
from notifications.settings import NotificationsSettings
from servicekit.auth.keys import write_new_signing_key
from servicekit.db.bootstrap import bootstrap_database
from servicekit.db.engine import Database
from servicekit.events.consumer import EventConsumer
from servicekit.events.kafka_security import KafkaSecurity
from servicekit.events.outbox import Outbox
from servicekit.resilience.breaker import BreakerPolicy
from servicekit.testing.events import eventually

Scratch = Callable[[str, str], tuple[str, str]]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def identity(
    scratch_database: Scratch,
    test_stack: Stack,
    tmp_path: Path,
    exporter: InMemorySpanExporter,
) -> AsyncIterator[httpx.AsyncClient]:
    admin_url, service_url = scratch_database("trace_identity", "identity")
    write_new_signing_key(tmp_path / "jwt", "key.pem")
    settings = IdentitySettings(
        database_url=service_url,
        jwt_keys_dir=tmp_path / "jwt",
        **test_stack.kafka_admin_settings(),
        log_format="console",
        environment="test",
    )
    await bootstrap_database(settings, admin_url, "identity:migrations")
    app = build_app(settings, span_processors=[SimpleSpanProcessor(exporter)])
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            yield client


@pytest.fixture
async def welcome_consumer(
    scratch_database: Scratch,
    test_stack: Stack,
    tmp_path: Path,
    exporter: InMemorySpanExporter,
) -> AsyncIterator[tuple[EventConsumer, Path]]:
    """notifications' handlers under a consumer group of this test's own, reading only what is
    published after it joined (the service's own group belongs to the running stack)."""
    admin_url, service_url = scratch_database("trace_notifications", "notifications")
    settings = NotificationsSettings(
        database_url=service_url,
        jwks_url="http://127.0.0.1:9/unused",
        **test_stack.kafka_admin_settings(),
        smtp_host="127.0.0.1",
        log_format="console",
        environment="test",
    )
    await bootstrap_database(settings, admin_url, "notifications:migrations")
    database = Database.from_settings(settings)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    group = f"notifications-trace-{uuid.uuid4().hex[:8]}"
    test_stack.kafka.create_topics([TopicSpec(f"{group}.dlq", partitions=1)])
    with SmtpSink(tmp_path / "mail", free_port()) as sink:
        mailer = SmtpMailer(
            SmtpConfig(
                host="127.0.0.1",
                port=sink.port,
                sender=Address("Flotilla", "no-reply", "flotilla.local"),
            ),
            smtp_breaker(BreakerPolicy()),
        )
        consumer = EventConsumer.for_group(
            ConsumerGroup.declare(group, (UserRegisteredV1.TOPIC,), ()),
            build_registry(Emails(database, mailer, "flotilla.local")),
            database=database,
            outbox=Outbox("notifications"),
            bootstrap_servers=test_stack.kafka.bootstrap_servers,
            security=KafkaSecurity.from_environment(test_stack.kafka_admin_env()),
            tracer_provider=provider,
            consumer_options={"auto_offset_reset": "latest"},
        )
        await consumer.start()
        try:
            await eventually(_assigned(consumer), what="the consumer to join its group")
            yield consumer, tmp_path / "mail"
        finally:
            await consumer.stop()
            await database.dispose()


def _assigned(consumer: EventConsumer) -> Callable[[], object]:
    async def check() -> bool:
        return bool(consumer.assignment)

    return check


async def test_a_sign_up_is_one_trace_from_the_request_to_the_welcome_consumer(
    identity: httpx.AsyncClient,
    welcome_consumer: tuple[EventConsumer, Path],
    exporter: InMemorySpanExporter,
) -> None:
    _, mail = welcome_consumer
    email = f"trace-{uuid.uuid4().hex[:10]}@example.com"
    response = await identity.post(
        "/v1/users",
        json={"email": email, "password": "long enough password", "name": "Tracy"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201

    async def welcomed() -> bool:
        return any(message["To"] == email for message in read_messages(mail))

    await eventually(welcomed, what="the welcome email")
    [server] = [
        s
        for s in exporter.get_finished_spans()
        if s.kind is SpanKind.SERVER and s.name.startswith("POST")
    ]

    async def consumer_span_ended() -> bool:
        # The email is sent inside the handler; its span ends after the commit that follows.
        return any(
            s.kind is SpanKind.CONSUMER and s.context.trace_id == server.context.trace_id
            for s in exporter.get_finished_spans()
        )

    await eventually(consumer_span_ended, what="the consumer's span to end")
    spans = exporter.get_finished_spans()
    [producer] = [
        s
        for s in spans
        if s.kind is SpanKind.PRODUCER
        and s.attributes.get("messaging.destination.name") == "identity.user"
        and s.context.trace_id == server.context.trace_id
    ]
    consumers = [
        s
        for s in spans
        if s.kind is SpanKind.CONSUMER and s.context.trace_id == server.context.trace_id
    ]
    assert consumers, "the consumer's span did not continue the request's trace"
    [consumer] = consumers
    assert _parent_id(producer) is not None
    assert _parent_id(consumer) == producer.context.span_id
    assert consumer.attributes.get("messaging.system") == "kafka"
    assert consumer.attributes.get("messaging.destination.name") == "identity.user"
    trace_ids = {s.context.trace_id for s in (server, producer, consumer)}
    assert len(trace_ids) == 1
    assert all("long enough password" not in str(s.attributes) for s in spans)


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None
