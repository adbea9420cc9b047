"""notifications' use cases. They take the consumer's (or request's) session and never commit,
with one deliberate exception: an email's `sending` claim.

An email is sent at most once per causing event and template, even when the process dies
between the SMTP server's "250 accepted" and the consumer's commit:

    committed at once            claim: insert the notification as `sending` (or take a
                                 `pending` one back); already `sending` → an earlier attempt
                                 claimed it and died: mark it `unconfirmed`, send nothing
    SMTP                         send, with a Message-ID stable per notification
        failed                   committed at once: `sending` → `pending`, then raise (retried)
    consumer's transaction       `sent` + `notifications.notification.sent.v1` + inbox row

The claim and its release commit as they run (`Database.standalone()`, each statement on its
own, no `BEGIN` or `COMMIT` round trips): each of their statements is right on its own, and a
transaction around them would add nothing but those two round trips per email.

Why a claim rather than leaving it to the receiver: SMTP has no idempotency key. A stable
Message-ID lets clients that deduplicate show a resend once, but nothing obliges a mail server
to drop a second copy, so only a mark committed before the send keeps a crash from resending.
The price: a crash after the claim and before the server accepted loses that email (it stays
`sending`, then `unconfirmed`, counted by `flotilla_notifications_unconfirmed_total` and
logged), which we prefer to a customer told twice that their order shipped. The claim takes a
second pooled connection while the consumer's holds one: the pool must exceed the consumer's
concurrency (15 against 8 by default).

One `sending` row is known to be unsent: the one whose claim raised — its answer lost to a
timeout or a cut connection while Postgres took it, as a frozen Postgres does — since that
attempt stopped before sending. The process notes the id it claimed with (`ClaimsInDoubt`), and
its next attempt that finds that row `sending` sends it. Another process, or this one after a
restart, cannot know that, and marks it `unconfirmed`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import UTC, datetime

from prometheus_client import Counter
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
from servicekit.db import Database
from servicekit.events import EventContext, PermanentError

__all__ = ["ClaimsInDoubt", "Emails", "list_notifications"]

log = logging.getLogger(__name__)

UNCONFIRMED = Counter(
    "flotilla_notifications_unconfirmed",
    "Emails not sent again because an attempt that claimed them died before recording the "
    "outcome (the server may or may not have accepted them), by template.",
    ["template"],
)

OrderOutcome = OrderConfirmedV1 | OrderCancelledV1 | OrderRejectedV1


class ClaimsInDoubt:
    """The ids this process claimed emails with when the claim raised: it may have committed
    with its answer lost, and the attempt sent nothing. Bounded: the oldest go first (a claim
    forgotten is marked `unconfirmed` when found, as after a crash)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()

    def note(self, notification_id: str) -> None:
        self._ids[notification_id] = None
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)

    def take(self, notification_id: str) -> bool:
        """Whether `notification_id` was noted; it no longer is (one attempt sends it)."""
        if notification_id not in self._ids:
            return False
        del self._ids[notification_id]
        return True


class Emails:
    """The event handlers that email customers, built once with what sending needs: `database`
    commits each email's `sending` claim before it is sent (the module docstring), `mailer`
    sends, `message_id_domain` ends every Message-ID. Its methods are registered as they are
    (notifications.consumers)."""

    def __init__(self, database: Database, mailer: Mailer, message_id_domain: str) -> None:
        self._database = database
        self._mailer = mailer
        self._message_id_domain = message_id_domain
        self._claims_in_doubt = ClaimsInDoubt()

    async def welcome_new_user(
        self, session: AsyncSession, event: UserRegisteredV1, context: EventContext
    ) -> None:
        """Email the new user a welcome, once per registration."""
        await self._email_once(
            session,
            context,
            user_id=event.user_id,
            email=event.email,
            template=WELCOME,
            rendered=render_welcome(event),
        )

    async def email_order_outcome(
        self, session: AsyncSession, event: OrderOutcome, context: EventContext
    ) -> None:
        """Tell the customer how their order ended (confirmed, cancelled or rejected), once."""
        if isinstance(event, OrderConfirmedV1):
            template, rendered = ORDER_CONFIRMED, render_order_confirmed(event)
        elif isinstance(event, OrderCancelledV1):
            template, rendered = ORDER_CANCELLED, render_order_cancelled(event)
        else:
            template, rendered = ORDER_REJECTED, render_order_rejected(event)
        await self._email_once(
            session,
            context,
            user_id=event.user_id,
            email=event.email,
            template=template,
            rendered=rendered,
        )

    async def _email_once(
        self,
        session: AsyncSession,
        context: EventContext,
        *,
        user_id: str,
        email: str,
        template: str,
        rendered: RenderedEmail,
    ) -> None:
        """Send `rendered` to `email`, at most once per causing event and template (the module's
        docstring draws how). A second delivery of a sent one finds it `sent` and does nothing."""
        try:
            recipient = recipient_address(email)
        except InvalidRecipient:
            raise PermanentError(f"{email!r} is not an address mail can be sent to") from None
        claimed_with = new_id("ntf")
        try:
            async with self._database.standalone() as claiming:
                notification, claimed = await NotificationRepository(claiming).claim(
                    Notification(
                        id=claimed_with,
                        user_id=user_id,
                        channel="email",
                        template=template,
                        recipient=recipient.addr_spec,
                        subject=rendered.subject,
                        body=rendered.body,
                        cause_event_id=context.envelope.id,
                        status="sending",
                        created_at=datetime.now(UTC),
                        sent_at=None,
                    )
                )
        except BaseException:
            self._claims_in_doubt.note(claimed_with)  # nothing was sent (the module docstring)
            raise
        repository = NotificationRepository(session)
        logged = {"notification_id": notification.id, "template": template, "user_id": user_id}
        if (
            not claimed
            and notification.status == "sending"
            and self._claims_in_doubt.take(notification.id)
        ):
            claimed = True
            log.info("notification claimed by an attempt whose claim raised; sending", extra=logged)
        if not claimed:
            if notification.status == "sending":
                await repository.mark_unconfirmed(notification.id)
                UNCONFIRMED.labels(template).inc()
                log.warning(
                    "notification claimed by an attempt that never finished; not sent again",
                    extra=logged,
                )
            else:
                log.info("notification already %s", notification.status, extra=logged)
            return
        try:
            await self._mailer.send(
                Email(
                    message_id=message_id(notification.id, self._message_id_domain),
                    recipient=recipient,
                    subject=notification.subject,
                    body=notification.body,
                )
            )
        except Exception:
            await _release(self._database, notification.id, logged)
            raise
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


async def _release(database: Database, notification_id: str, logged: dict[str, str]) -> None:
    """Give a failed send's claim back, so the retry sends. If even that fails (the database
    went too), the claim stays and the retry marks it `unconfirmed`: at most once."""
    try:
        async with database.standalone() as releasing:
            await NotificationRepository(releasing).release(notification_id)
    except Exception as error:
        log.warning(
            "could not release a failed send's claim: %r", error, extra=logged, exc_info=error
        )


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
