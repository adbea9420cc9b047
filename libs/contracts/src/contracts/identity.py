"""Events published by identity on `identity.user`."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from contracts.base import Event

__all__ = ["UserRegisteredV1"]


class UserRegisteredV1(Event):
    """A person signed up. Carries what a consumer needs to greet them (name, email)."""

    EVENT_TYPE: ClassVar[str] = "identity.user.registered.v1"
    TOPIC: ClassVar[str] = "identity.user"
    SUBJECT_FIELD: ClassVar[str] = "user_id"

    user_id: str = Field(description="The new user's id (`usr_…`).")
    email: str = Field(description="The address the user signed up with, lower-cased.")
    name: str = Field(description="The name the user gave.")
    registered_at: datetime = Field(description="When the account was created (UTC).")
