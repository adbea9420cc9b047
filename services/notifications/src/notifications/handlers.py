"""notifications' use cases. They take the consumer's (or request's) session and never commit."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import UserRegisteredV1
from contracts.notifications import NotificationSentV1
from contracts.orders import OrderCancelledV1, OrderConfirmedV1, OrderRejectedV1
from notifications.domain import (
    WELCOME,
    Email,
    InvalidRecipient,
    Notification,
    RenderedEmail,
    message_id,
    recipient_address,
    render_welcome,
)
from notifications.mailer import Mailer
from notifications.order_emails import (
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    ORDER_REJECTED,
    render_order_cancelled,
    render_order_confirmed,
    render_order_rejected,
)
from notifications.repository import NotificationRepository
from servicekit import new_id
from servicekit.events import EventContext, PermanentError

__all__ = ["email_order_outcome", "list_notifications", "welcome_new_user"]

log = logging.getLogger(__name__)

OrderOutcome = OrderConfirmedV1 | OrderCancelledV1 | OrderRejectedV1


async def welcome_new_user(
    session: AsyncSession,
    mailer: Mailer,
    message_id_domain: str,
    event: UserRegisteredV1,
    context: EventContext,
) -> None:
    """Email the new user a welcome, once per registration."""
    await _email_once(
        session,
        mailer,
        message_id_domain,
        context,
        user_id=event.user_id,
        email=event.email,
        template=WELCOME,
        rendered=render_welcome(event),
    )


async def email_order_outcome(
    session: AsyncSession,
    mailer: Mailer,
    message_id_domain: str,
    event: OrderOutcome,
    context: EventContext,
) -> None:
    """Tell the customer how their order ended (confirmed, cancelled or rejected), once."""
    if isinstance(event, OrderConfirmedV1):
        template, rendered = ORDER_CONFIRMED, render_order_confirmed(event)
    elif isinstance(event, OrderCancelledV1):
        template, rendered = ORDER_CANCELLED, render_order_cancelled(event)
    else:
        template, rendered = ORDER_REJECTED, render_order_rejected(event)
    await _email_once(
        session,
        mailer,
        message_id_domain,
        context,
        user_id=event.user_id,
        email=event.email,
        template=template,
        rendered=rendered,
    )


async def _email_once(
    session: AsyncSession,
    mailer: Mailer,
    message_id_domain: str,
    context: EventContext,
    *,
    user_id: str,
    email: str,
    template: str,
    rendered: RenderedEmail,
) -> None:
    """Send `rendered` to `email`, once per causing event and template.

    The notification row, its `sent` mark and the `notifications.notification.sent.v1` event
    commit together with the consumer's inbox row. A second delivery of the same event finds
    the row already sent and does nothing. If the send succeeds but the commit fails, the
    retry sends again with the same Message-ID (at least once; we cannot do better over SMTP).
    """
    try:
        recipient = recipient_address(email)
    except InvalidRecipient:
        raise PermanentError(f"{email!r} is not an address mail can be sent to") from None
    repository = NotificationRepository(session)
    notification = await repository.add_once(
        Notification(
            id=new_id("ntf"),
            user_id=user_id,
            channel="email",
            template=template,
            recipient=recipient.addr_spec,
            subject=rendered.subject,
            body=rendered.body,
            cause_event_id=context.envelope.id,
            status="pending",
            created_at=datetime.now(UTC),
            sent_at=None,
        )
    )
    logged = {"notification_id": notification.id, "template": template, "user_id": user_id}
    if notification.status == "sent":
        log.info("notification already sent", extra=logged)
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
    log.info("notification sent", extra=logged)


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
