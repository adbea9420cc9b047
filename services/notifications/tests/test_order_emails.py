"""The order emails in their consumer transaction, against real Postgres and real SMTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from contracts.base import Event
from contracts.notifications import NotificationSentV1
from contracts.orders import OrderCancelledV1, OrderConfirmedV1, OrderPlacedV1, OrderRejectedV1
from contracts.values import StockShortfall
from devstack.smtp_sink import SmtpSink, read_messages
from notifications.consumers import build_registry
from notifications.handlers import Emails
from notifications.mailer import Mailer, SmtpMailer
from notifications.tables import notifications
from servicekit import new_id
from servicekit.db import Database
from servicekit.events import OUTBOX, EventContext, Outbox, PermanentError
from servicekit.testing import event_context

MailerFactory = Callable[..., SmtpMailer]
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _email() -> str:
    return f"buyer-{uuid.uuid4().hex[:10]}@example.com"


def _confirmed(email: str | None = None) -> OrderConfirmedV1:
    return OrderConfirmedV1(
        order_id=new_id("ord"),
        user_id=new_id("usr"),
        email=email or _email(),
        total_cents=4980,
        currency="EUR",
        confirmed_at=NOW,
    )


def _cancelled() -> OrderCancelledV1:
    return OrderCancelledV1(
        order_id=new_id("ord"),
        user_id=new_id("usr"),
        email=_email(),
        reason="insufficient_funds",
        total_cents=1290,
        currency="EUR",
        cancelled_at=NOW,
    )


def _rejected() -> OrderRejectedV1:
    return OrderRejectedV1(
        order_id=new_id("ord"),
        user_id=new_id("usr"),
        email=_email(),
        shortfalls=[
            StockShortfall(product_id="prd_poster", reason="out_of_stock", requested=2, available=1)
        ],
        rejected_at=NOW,
    )


def _context(event: Event) -> EventContext:
    return event_context(event, Outbox("notifications"), source="/orders")


async def _deliver(database: Database, mailer: Mailer, event: Event, context: EventContext) -> None:
    """What the consumer does: the handler inside one transaction that commits after it."""
    registration = build_registry(Emails(database, mailer, "flotilla.local")).get(event.EVENT_TYPE)
    assert registration is not None
    async with database.transaction() as session:
        await registration.handler(session, event, context)


async def _stored(database: Database, context: EventContext) -> list[dict[str, object]]:
    async with database.transaction() as session:
        rows = await session.execute(
            select(notifications).where(notifications.c.cause_event_id == context.envelope.id)
        )
        return [dict(row._mapping) for row in rows]


async def _sent_events(database: Database, context: EventContext) -> list[NotificationSentV1]:
    async with database.transaction() as session:
        rows = await session.execute(
            select(OUTBOX.c.payload).where(
                OUTBOX.c.event_type == NotificationSentV1.EVENT_TYPE,
                func.convert_from(OUTBOX.c.payload, "UTF8").like(f'%"{context.envelope.id}"%'),
            )
        )
        return [NotificationSentV1.model_validate(json.loads(row.payload)) for row in rows]


@pytest.mark.parametrize(
    ("make", "template", "subject", "says"),
    [
        (_confirmed, "order_confirmed", "is confirmed", "49.80 EUR"),
        (_cancelled, "order_cancelled", "was cancelled", "your card had insufficient funds"),
        (_rejected, "order_rejected", "could not be accepted", "only 1 left (you asked for 2)"),
    ],
)
async def test_each_order_outcome_is_one_email_recorded_and_announced(
    database: Database,
    smtp_sink: SmtpSink,
    make_mailer: MailerFactory,
    make: Callable[[], OrderConfirmedV1 | OrderCancelledV1 | OrderRejectedV1],
    template: str,
    subject: str,
    says: str,
) -> None:
    event = make()
    context = _context(event)
    mailer = make_mailer(smtp_sink.port)

    await _deliver(database, mailer, event, context)
    await _deliver(database, mailer, event, context)  # redelivered: one email all the same

    [row] = await _stored(database, context)
    assert (row["template"], row["status"], row["recipient"]) == (template, "sent", event.email)
    assert row["user_id"] == event.user_id
    assert row["subject"] == f"Your order {event.order_id} {subject}"
    assert says in str(row["body"])

    [message] = read_messages(smtp_sink.folder)
    assert message["To"] == event.email
    assert message["Subject"] == row["subject"]
    assert message["Message-ID"] == f"<{row['id']}@flotilla.local>"
    assert says in message.get_content()

    [sent] = await _sent_events(database, context)
    assert (sent.notification_id, sent.template, sent.recipient) == (
        row["id"],
        template,
        event.email,
    )
    assert sent.user_id == event.user_id


async def test_concurrent_deliveries_of_one_confirmation_send_one_email(
    database: Database, smtp_sink: SmtpSink, make_mailer: MailerFactory
) -> None:
    event = _confirmed()
    context = _context(event)
    mailer = make_mailer(smtp_sink.port)
    await asyncio.gather(*(_deliver(database, mailer, event, context) for _ in range(3)))
    assert len(await _stored(database, context)) == 1
    assert len(read_messages(smtp_sink.folder)) == 1


async def test_an_order_email_to_an_unusable_address_is_a_permanent_error(
    database: Database, smtp_sink: SmtpSink, make_mailer: MailerFactory
) -> None:
    event = _confirmed(email="not an address")
    context = _context(event)
    with pytest.raises(PermanentError):
        await _deliver(database, make_mailer(smtp_sink.port), event, context)
    assert await _stored(database, context) == []
    assert read_messages(smtp_sink.folder) == []


def test_a_placed_order_is_no_email_and_is_left_to_the_consumer_to_skip(
    make_mailer: MailerFactory, unused_port: int, database: Database
) -> None:
    registry = build_registry(Emails(database, make_mailer(unused_port), "flotilla.local"))
    assert registry.get(OrderPlacedV1.EVENT_TYPE) is None
    assert registry.topics == {"identity.user", "orders.order"}
