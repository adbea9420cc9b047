"""The HTTP contract of notifications (what OpenAPI shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["NotificationOut", "NotificationPage"]


class NotificationOut(BaseModel):
    id: str = Field(examples=["ntf_01jz3k8w6x9a2b4c5d6e7f8g9h"])
    channel: Literal["email"]
    template: str = Field(examples=["welcome"])
    recipient: str = Field(description="Where it was delivered: the email address.")
    subject: str
    body: str = Field(description="The plain-text content that was sent.")
    status: Literal["pending", "sending", "sent", "unconfirmed"] = Field(
        description="`sent`: the mail server accepted it. `unconfirmed`: a crash hid whether it "
        "was sent, and it is never sent twice. `pending`/`sending`: not yet, or in progress."
    )
    created_at: datetime
    sent_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )
