"""notifications' use cases. They take the consumer's (or request's) session and never commit."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import UserRegisteredV1
from contracts.notifications import NotificationSentV1
from notifications.domain import (
    WELCOME,
    Email,
    InvalidRecipient,
    Notification,
    message_id,
    recipient_address,
    render_welcome,
)
from notifications.mailer import Mailer
from notifications.repository import NotificationRepository
from servicekit.events.handlers import EventContext, PermanentError
from servicekit.ids import new_id

__all__ = ["list_notifications", "welcome_new_user"]

log = logging.getLogger(__name__)


async def welcome_new_user(
    session: AsyncSession,
    mailer: Mailer,
    message_id_domain: str,
    event: UserRegisteredV1,
    context: EventContext,
) -> None:
    """Email the new user a welcome, once per registration.

    The notification row, its `sent` mark and the `notifications.notification.sent.v1` event
    commit together with the consumer's inbox row. A second delivery of the same registration
    finds the row already sent and does nothing. If the send succeeds but the commit fails, the
    retry sends again with the same Message-ID (at least once; we cannot do better over SMTP).
    """
    try:
        recipient = recipient_address(event.email)
    except InvalidRecipient:
        raise PermanentError(f"{event.email!r} is not an address mail can be sent to") from None
    rendered = render_welcome(event)
    repository = NotificationRepository(session)
    notification = await repository.add_once(
        Notification(
            id=new_id("ntf"),
            user_id=event.user_id,
            channel="email",
            template=WELCOME,
            recipient=recipient.addr_spec,
            subject=rendered.subject,
            body=rendered.body,
            cause_event_id=context.envelope.id,
            status="pending",
            created_at=datetime.now(UTC),
            sent_at=None,
        )
    )
    if notification.status == "sent":
        log.info("welcome already sent", extra={"notification_id": notification.id})
        return
    await mailer.send(
        Email(
            message_id=message_id(notification.id, message_id_domain),
            recipient=recipient,
            subject=notification.subject,
            body=notification.body,
        )
    )
    sent_at = datetime.now(UTC)
    await repository.mark_sent(notification.id, sent_at)
    await context.outbox.append(
        session,
        NotificationSentV1(
            notification_id=notification.id,
            user_id=notification.user_id,
            channel=notification.channel,
            template=notification.template,
            recipient=notification.recipient,
            cause_event_id=notification.cause_event_id,
            sent_at=sent_at,
        ),
    )
    log.info("welcome sent", extra={"notification_id": notification.id, "user_id": event.user_id})


async def list_notifications(
    session: AsyncSession, user_id: str, *, limit: int, before_id: str | None
) -> tuple[list[Notification], str | None]:
    """A page of the user's notifications, newest first, and the id to continue before (None
    on the last page)."""
    page = await NotificationRepository(session).page_for_user(
        user_id, limit=limit + 1, before_id=before_id
    )
    if len(page) > limit:
        return page[:limit], page[limit - 1].id
    return page, None
