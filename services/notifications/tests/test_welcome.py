"""The welcome handler in its consumer transaction, against real Postgres and real SMTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from contracts.identity import UserRegisteredV1
from contracts.notifications import NotificationSentV1
from devstack.smtp_sink import SmtpSink, read_messages
from notifications.consumers import build_registry
from notifications.domain import Notification
from notifications.handlers import Emails
from notifications.mailer import Mailer, SmtpMailer
from notifications.repository import NotificationRepository
from notifications.tables import notifications
from servicekit import is_id, new_id
from servicekit.db import Database
from servicekit.events import (
    OUTBOX,
    EventContext,
    Outbox,
    PermanentError,
    TransientError,
)
from servicekit.testing import event_context

MailerFactory = Callable[..., SmtpMailer]


def _registration(email: str | None = None) -> tuple[UserRegisteredV1, EventContext]:
    event = UserRegisteredV1(
        user_id=new_id("usr"),
        email=email or f"user-{uuid.uuid4().hex[:10]}@example.com",
        name="Ann Lee",
        registered_at=datetime.now(UTC),
    )
    return event, event_context(event, Outbox("notifications"), source="/identity")


async def _deliver(
    database: Database, mailer: Mailer, event: UserRegisteredV1, context: EventContext
) -> None:
    """What the consumer does: the handler inside one transaction that commits after it."""
    await _deliver_through(Emails(database, mailer, "flotilla.local"), database, event, context)


async def _deliver_through(
    emails: Emails, database: Database, event: UserRegisteredV1, context: EventContext
) -> None:
    """As `_deliver`, through one process's handlers (`emails`), kept between deliveries."""
    registration = build_registry(emails).get(event.EVENT_TYPE)
    assert registration is not None
    async with database.transaction() as session:
        await registration.handler(session, event, context)


async def _stored(database: Database, context: EventContext) -> list[dict[str, object]]:
    async with database.transaction() as session:
        rows = await session.execute(
            select(notifications).where(notifications.c.cause_event_id == context.envelope.id)
        )
        return [dict(row._mapping) for row in rows]


async def _sent_events(database: Database, user_id: str) -> list[dict[str, object]]:
    async with database.transaction() as session:
        rows = await session.execute(
            select(OUTBOX.c.key, OUTBOX.c.headers, OUTBOX.c.payload).where(
                OUTBOX.c.event_type == NotificationSentV1.EVENT_TYPE,
                func.convert_from(OUTBOX.c.payload, "UTF8").like(f'%"{user_id}"%'),
            )
        )
        return [
            {"key": row.key, "headers": row.headers, "payload": json.loads(row.payload)}
            for row in rows
        ]


async def test_a_registration_delivered_twice_sends_one_welcome(
    database: Database, smtp_sink: SmtpSink, make_mailer: MailerFactory
) -> None:
    event, context = _registration()
    mailer = make_mailer(smtp_sink.port)

    await _deliver(database, mailer, event, context)
    await _deliver(database, mailer, event, context)

    [row] = await _stored(database, context)
    assert is_id(str(row["id"]), "ntf")
    assert row["user_id"] == event.user_id
    assert (row["channel"], row["template"], row["status"]) == ("email", "welcome", "sent")
    assert row["recipient"] == event.email
    assert row["subject"] == "Welcome to Flotilla"
    assert "Hi Ann Lee," in str(row["body"])
    assert row["sent_at"] is not None

    [message] = read_messages(smtp_sink.folder)
    assert message["To"] == event.email
    assert message["Message-ID"] == f"<{row['id']}@flotilla.local>"

    [sent] = await _sent_events(database, event.user_id)
    assert sent["key"] == row["id"]
    assert sent["headers"]["ce_type"] == "notifications.notification.sent.v1"
    assert sent["headers"]["ce_source"] == "/notifications"
    payload = NotificationSentV1.model_validate(sent["payload"])
    assert payload.notification_id == row["id"]
    assert payload.cause_event_id == context.envelope.id
    assert (payload.channel, payload.template, payload.recipient) == (
        "email",
        "welcome",
        event.email,
    )
    assert payload.sent_at == row["sent_at"]


async def test_concurrent_deliveries_of_one_registration_send_one_welcome(
    database: Database, smtp_sink: SmtpSink, make_mailer: MailerFactory
) -> None:
    event, context = _registration()
    mailer = make_mailer(smtp_sink.port)
    await asyncio.gather(*(_deliver(database, mailer, event, context) for _ in range(3)))
    assert len(await _stored(database, context)) == 1
    assert len(read_messages(smtp_sink.folder)) == 1
    assert len(await _sent_events(database, event.user_id)) == 1


async def test_two_registrations_get_a_welcome_each(
    database: Database, smtp_sink: SmtpSink, make_mailer: MailerFactory
) -> None:
    mailer = make_mailer(smtp_sink.port)
    for _ in range(2):
        await _deliver(database, mailer, *_registration(email="same@example.com"))
    assert [m["To"] for m in read_messages(smtp_sink.folder)] == ["same@example.com"] * 2


async def test_smtp_down_leaves_the_email_pending_and_a_later_delivery_sends(
    database: Database,
    unused_port: int,
    make_mailer: MailerFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    event, context = _registration()
    with pytest.raises(TransientError):
        await _deliver(database, make_mailer(unused_port), event, context)
    [row] = await _stored(database, context)
    assert row["status"] == "pending"  # the claim given back: the retry may send
    assert await _sent_events(database, event.user_id) == []

    with SmtpSink(tmp_path_factory.mktemp("mail"), unused_port) as sink:
        await _deliver(database, make_mailer(unused_port), event, context)
        assert len(sink.messages()) == 1
    [row] = await _stored(database, context)
    assert row["status"] == "sent"


_CLAIM = NotificationRepository.claim


async def _claim_then_lose_the_answer(
    repository: NotificationRepository, notification: Notification
) -> tuple[Notification, bool]:
    """The claim Postgres took (it commits as it runs) and whose answer never came back."""
    await _CLAIM(repository, notification)
    raise TimeoutError


async def test_a_claim_whose_answer_was_lost_is_sent_by_the_next_delivery_in_that_process(
    database: Database,
    smtp_sink: SmtpSink,
    make_mailer: MailerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Postgres took the claim, the attempt never heard (a timeout while Postgres was frozen):
    it sent nothing, so the retry sends — once."""
    event, context = _registration()
    emails = Emails(database, make_mailer(smtp_sink.port), "flotilla.local")
    monkeypatch.setattr(NotificationRepository, "claim", _claim_then_lose_the_answer)
    with pytest.raises(TimeoutError):
        await _deliver_through(emails, database, event, context)
    monkeypatch.undo()
    [row] = await _stored(database, context)
    assert row["status"] == "sending"
    assert read_messages(smtp_sink.folder) == []

    await _deliver_through(emails, database, event, context)
    await _deliver_through(emails, database, event, context)

    [row] = await _stored(database, context)
    assert row["status"] == "sent"
    [message] = read_messages(smtp_sink.folder)
    assert message["Message-ID"] == f"<{row['id']}@flotilla.local>"
    assert len(await _sent_events(database, event.user_id)) == 1


async def test_a_claim_whose_answer_was_lost_is_unconfirmed_in_another_process(
    database: Database,
    smtp_sink: SmtpSink,
    make_mailer: MailerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another process cannot tell that claim from one whose attempt died mid-send."""
    event, context = _registration()
    mailer = make_mailer(smtp_sink.port)
    monkeypatch.setattr(NotificationRepository, "claim", _claim_then_lose_the_answer)
    with pytest.raises(TimeoutError):
        await _deliver_through(Emails(database, mailer, "flotilla.local"), database, event, context)
    monkeypatch.undo()

    await _deliver_through(Emails(database, mailer, "flotilla.local"), database, event, context)

    [row] = await _stored(database, context)
    assert row["status"] == "unconfirmed"
    assert read_messages(smtp_sink.folder) == []
    assert await _sent_events(database, event.user_id) == []


async def test_an_address_mail_cannot_reach_is_a_permanent_error(
    database: Database, smtp_sink: SmtpSink, make_mailer: MailerFactory
) -> None:
    event, context = _registration(email="not an address")
    with pytest.raises(PermanentError):
        await _deliver(database, make_mailer(smtp_sink.port), event, context)
    assert await _stored(database, context) == []
    assert read_messages(smtp_sink.folder) == []
