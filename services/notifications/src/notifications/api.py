"""notifications' routes: parse, call a handler, shape the response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from notifications.domain import Notification
from notifications.handlers import list_notifications
from notifications.schemas import NotificationOut, NotificationPage
from servicekit.auth.dependencies import CurrentPrincipal
from servicekit.db.session import SessionDep
from servicekit.pagination import decode_cursor, encode_cursor

__all__ = ["router"]

router = APIRouter()

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


@router.get(
    "/v1/notifications",
    operation_id="listMyNotifications",
    response_model=NotificationPage,
    tags=["notifications"],
    summary="The signed-in user's notifications, newest first",
    responses={
        400: {"description": "The cursor is not one this API returned", **_PROBLEM},
        401: {"description": "Missing, invalid or expired token", **_PROBLEM},
        422: {"description": "Invalid query parameters", **_PROBLEM},
    },
)
async def my_notifications(
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="`next_cursor` from the previous page."),
    ] = None,
) -> NotificationPage:
    before_id = decode_cursor(cursor, "ntf") if cursor is not None else None
    page, last_id = await list_notifications(
        session, principal.subject, limit=limit, before_id=before_id
    )
    return NotificationPage(
        items=[_notification_out(notification) for notification in page],
        next_cursor=encode_cursor(last_id) if last_id is not None else None,
    )


def _notification_out(notification: Notification) -> NotificationOut:
    return NotificationOut(
        id=notification.id,
        channel=notification.channel,
        template=notification.template,
        recipient=notification.recipient,
        subject=notification.subject,
        body=notification.body,
        status=notification.status,
        created_at=notification.created_at,
        sent_at=notification.sent_at,
    )
