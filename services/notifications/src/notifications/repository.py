"""All of notifications' SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.domain import Notification
from notifications.tables import notifications
from servicekit.db import direct

__all__ = ["NotificationRepository"]

# The statements of every notification, built once and run with their values (building a
# statement costs more CPU than its round trip); the claim and the `sent` mark, run for every
# email, on the driver (servicekit.db.direct).
_ADD_SENDING = direct(
    insert(notifications)
    .values(
        {
            **{
                name: bindparam(name)
                for name in (
                    "id",
                    "user_id",
                    "channel",
                    "template",
                    "recipient",
                    "subject",
                    "body",
                    "cause_event_id",
                )
            },
            "status": literal_column("'sending'"),
        }
    )
    .on_conflict_do_nothing(index_elements=["cause_event_id", "template"])
    .returning(*notifications.c)
)
# An UPDATE's own parameters are named after its columns: the others are named apart.
_SAME = select(notifications).where(
    notifications.c.cause_event_id == bindparam("same_cause_event_id"),
    notifications.c.template == bindparam("same_template"),
)
"""The notification of one cause and template."""
_RECLAIM = (
    update(notifications)
    .where(
        notifications.c.cause_event_id == bindparam("same_cause_event_id"),
        notifications.c.template == bindparam("same_template"),
        notifications.c.status == "pending",
    )
    .values(status="sending")
    .returning(*notifications.c)
)
_MOVE_FROM_SENDING = (
    update(notifications)
    .where(notifications.c.id == bindparam("notification_id"), notifications.c.status == "sending")
    .values(status=bindparam("status"))
)
_MARK_SENT = direct(
    update(notifications)
    .where(notifications.c.id == bindparam("notification_id"))
    .values(status=literal_column("'sent'"), sent_at=bindparam("sent_at"))
)


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(self, notification: Notification) -> tuple[Notification, bool]:
        """Mark the notification of `notification`'s cause and template `sending`, inserting
        it if it is new; returns the stored row and whether this call claimed it. Not claimed:
        it is `sending` already (an earlier attempt may have sent it), `sent` or `unconfirmed`.
        The caller commits at once, before sending (see handlers.py)."""
        values = {
            "id": notification.id,
            "user_id": notification.user_id,
            "channel": notification.channel,
            "template": notification.template,
            "recipient": notification.recipient,
            "subject": notification.subject,
            "body": notification.body,
            "cause_event_id": notification.cause_event_id,
        }
        inserted = (await _ADD_SENDING.run(self._session, values)).first()
        if inserted is not None:
            return _notification(inserted), True
        same = {
            "same_cause_event_id": notification.cause_event_id,
            "same_template": notification.template,
        }
        reclaimed = (await self._session.execute(_RECLAIM, same)).first()
        if reclaimed is not None:
            return _notification(reclaimed), True
        existing = (await self._session.execute(_SAME, same)).one()
        return _notification(existing), False

    async def release(self, notification_id: str) -> None:
        """`sending` → `pending`: the send failed, so a later attempt may send it."""
        await self._session.execute(
            _MOVE_FROM_SENDING, {"notification_id": notification_id, "status": "pending"}
        )

    async def mark_sent(self, notification_id: str, sent_at: datetime) -> None:
        await _MARK_SENT.run(
            self._session, {"notification_id": notification_id, "sent_at": sent_at}
        )

    async def mark_unconfirmed(self, notification_id: str) -> None:
        """`sending` → `unconfirmed`: an attempt claimed it and never said how the send went.
        A `sent` mark that commits meanwhile wins (the row lock orders the two)."""
        await self._session.execute(
            _MOVE_FROM_SENDING, {"notification_id": notification_id, "status": "unconfirmed"}
        )

    async def page_for_user(
        self, user_id: str, *, limit: int, before_id: str | None = None
    ) -> list[Notification]:
        """Newest first; `before_id` continues after the last one of the previous page."""
        statement = (
            select(notifications)
            .where(notifications.c.user_id == user_id)
            .order_by(notifications.c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            statement = statement.where(notifications.c.id < before_id)
        rows = (await self._session.execute(statement)).all()
        return [_notification(row) for row in rows]


def _notification(row: object) -> Notification:
    mapping = row._mapping  # type: ignore[attr-defined]
    return Notification(
        id=mapping["id"],
        user_id=mapping["user_id"],
        channel=mapping["channel"],
        template=mapping["template"],
        recipient=mapping["recipient"],
        subject=mapping["subject"],
        body=mapping["body"],
        cause_event_id=mapping["cause_event_id"],
        status=mapping["status"],
        created_at=mapping["created_at"],
        sent_at=mapping["sent_at"],
    )
