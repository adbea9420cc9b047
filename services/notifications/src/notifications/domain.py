"""What notifications says and to whom; no I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Literal

from contracts.identity import UserRegisteredV1

__all__ = [
    "WELCOME",
    "Email",
    "InvalidRecipient",
    "Notification",
    "RenderedEmail",
    "message_id",
    "recipient_address",
    "render_welcome",
]

WELCOME = "welcome"
"""The template greeting a new user."""

Channel = Literal["email"]
Status = Literal["pending", "sending", "sent", "unconfirmed"]
"""pending: not sent (a send failed, or not tried yet); sending: claimed by an attempt that is
sending it now, or died doing so; sent: the server accepted it; unconfirmed: an attempt claimed
it and died before saying how the send went, so it is not sent again (at most once)."""


@dataclass(frozen=True)
class Notification:
    id: str
    user_id: str
    channel: Channel
    template: str
    recipient: str
    subject: str
    body: str
    cause_event_id: str
    status: Status
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str
    """Plain text, `\\n` line endings."""


@dataclass(frozen=True)
class Email:
    """One message, ready for a mailer."""

    message_id: str
    recipient: Address
    subject: str
    body: str


class InvalidRecipient(ValueError):
    """The address cannot receive mail: no retry will change that."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def render_welcome(event: UserRegisteredV1) -> RenderedEmail:
    # The name is the user's own input: one line, no control characters, reasonably short.
    name = " ".join(_CONTROL.sub(" ", event.name).split())[:100] or "there"
    body = (
        f"Hi {name},\n"
        "\n"
        "Welcome to Flotilla! Your account is ready, and you can sign in with this\n"
        f"email address ({event.email}).\n"
        "\n"
        "If you did not create this account, you can ignore this message.\n"
        "\n"
        "— The Flotilla team\n"
    )
    return RenderedEmail(subject="Welcome to Flotilla", body=body)


def recipient_address(email: str) -> Address:
    """Raises InvalidRecipient unless `email` is a single plain address (no display name)."""
    if _CONTROL.search(email) or email.count("@") != 1:
        raise InvalidRecipient(email)
    try:
        address = Address(addr_spec=email)
    except (HeaderParseError, ValueError, IndexError) as error:
        raise InvalidRecipient(email) from error
    if not address.username or "." not in address.domain or address.addr_spec != email:
        raise InvalidRecipient(email)
    return address


def message_id(notification_id: str, domain: str) -> str:
    """Stable per notification: a resend after a crash carries the same Message-ID, so mail
    clients and providers that deduplicate show it once."""
    return f"<{notification_id}@{domain}>"
