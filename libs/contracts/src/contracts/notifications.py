"""Events published by notifications on `notifications.notification`."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from contracts.base import Event

__all__ = ["NotificationSentV1"]


class NotificationSentV1(Event):
    """A notification left for its recipient: which template, on which channel, and why."""

    EVENT_TYPE: ClassVar[str] = "notifications.notification.sent.v1"
    TOPIC: ClassVar[str] = "notifications.notification"
    SUBJECT_FIELD: ClassVar[str] = "notification_id"

    notification_id: str = Field(description="The notification's id (`ntf_…`).")
    user_id: str = Field(description="The user it was sent to (`usr_…`).")
    channel: Literal["email"] = Field(description="How it was delivered.")
    template: str = Field(description="The template it was rendered from, e.g. `welcome`.")
    recipient: str = Field(description="Where it was delivered: the email address.")
    cause_event_id: str = Field(
        description="The id (`ce_id`) of the event that caused it, e.g. the user's registration."
    )
    sent_at: datetime = Field(description="When the channel accepted it (UTC).")
