"""An email on its way to the SMTP server: its bytes written directly when the `email` package
would write exactly those bytes, built by the package otherwise.

The standard library's `email` package parses every header it is given (its header registry)
and flattens the message through its generator: about 0.5 to 0.7 ms of CPU an email on a slow
machine, for seven short headers and a few lines of text. For the emails this service sends
nearly always — a plain ASCII address, an ASCII subject that fits on its line, text in lines of
at most 78 bytes — what the package writes is known in advance, and `OutgoingEmails` writes it
in a few microseconds. Anything else (an accented subject, a long one, an address with a quoted
local part, a long body line) is left to the package, as is a UTF-8 body for a server without
8BITMIME (the package sends it in base64): its encoding and folding are never re-implemented
here.

`tests/test_outgoing.py` holds the two to the same bytes, for the shop's own emails and for
thousands of generated ones on both sides of every condition below.
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage

from notifications.domain import Email

__all__ = ["AUTO_SUBMITTED", "FlatMessage", "OutgoingEmail", "OutgoingEmails", "build_message"]

AUTO_SUBMITTED = "auto-generated"
"""RFC 3834: this message is automatic; no auto-replies, please."""

_MAX_LINE = 78
"""The policies' `max_line_length`: a longer header is folded, a longer body line encoded."""
_CRLF = "\r\n"

_DOT_ATOM_ADDRESS = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\Z"
)
"""An address the header registry writes back as it is: a dot-atom of letters, digits and
`_+-` before the `@`, a host name after it."""
_MESSAGE_ID = re.compile(r"<[A-Za-z0-9_.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>\Z")
_SUBJECT = re.compile(r"[!-~]+(?: [!-~]+)*\Z")
"""Printable ASCII words, one space between them, none at either end."""


def build_message(sender: Address, email: Email, *, date: str) -> EmailMessage:
    """`email` built by the standard library's `email` package."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.recipient
    message["Subject"] = email.subject
    message["Date"] = date
    message["Message-ID"] = email.message_id
    message["Auto-Submitted"] = AUTO_SUBMITTED
    message.set_content(email.body)
    return message


@dataclass(frozen=True)
class FlatMessage:
    """A message ready for `SMTP.sendmail`: its envelope and its content, CRLF line ends."""

    sender: str
    recipient: str
    content: bytes
    eight_bit: bool
    """The body has UTF-8 beyond ASCII, sent as is: only to a server that announces 8BITMIME."""


@dataclass(frozen=True)
class OutgoingEmail:
    """One email to send: as written directly, where that was possible, and as the package
    builds it, for the rest."""

    sender: Address
    email: Email
    date: str
    flat: FlatMessage | None

    def flat_for(self, *, eight_bit_mime: bool) -> FlatMessage | None:
        """The bytes to send to a server with or without 8BITMIME, if they were written."""
        if self.flat is None or (self.flat.eight_bit and not eight_bit_mime):
            return None
        return self.flat

    def message(self) -> EmailMessage:
        return build_message(self.sender, self.email, date=self.date)


class OutgoingEmails:
    """This sender's emails, written directly where the `email` package would write the same."""

    def __init__(self, sender: Address) -> None:
        self._sender = sender
        self._from_line: str | None = None
        if sender.addr_spec.isascii():
            # The sender is the same on every email: its header is folded once, by the package.
            headers = EmailMessage()
            headers["From"] = sender
            self._from_line = email.policy.SMTP.fold("From", headers["From"])

    def outgoing(self, message: Email, *, date: str) -> OutgoingEmail:
        """`message` to send, with `date` as its Date header."""
        return OutgoingEmail(self._sender, message, date, self._flat(message, date))

    def _flat(self, message: Email, date: str) -> FlatMessage | None:
        recipient = message.recipient.addr_spec
        subject = message.subject
        if self._from_line is None or not (
            _DOT_ATOM_ADDRESS.match(recipient)
            and len(recipient) + len("To: ") <= _MAX_LINE
            and _SUBJECT.match(subject)
            and "=?" not in subject  # the parser would read it as an encoded word
            and len(subject) + len("Subject: ") <= _MAX_LINE
            and _MESSAGE_ID.match(message.message_id)
            and len(message.message_id) + len("Message-ID: ") <= _MAX_LINE
        ):
            return None
        body = _body_lines(message.body)
        if body is None:
            return None
        eight_bit = not message.body.isascii()
        headers = (
            f"{self._from_line}"
            f"To: {recipient}{_CRLF}"
            f"Subject: {subject}{_CRLF}"
            f"Date: {date}{_CRLF}"
            f"Message-ID: {message.message_id}{_CRLF}"
            f"Auto-Submitted: {AUTO_SUBMITTED}{_CRLF}"
            f'Content-Type: text/plain; charset="utf-8"{_CRLF}'
            f"Content-Transfer-Encoding: {'8bit' if eight_bit else '7bit'}{_CRLF}"
            f"MIME-Version: 1.0{_CRLF}"
            f"{_CRLF}"
        )
        return FlatMessage(
            self._sender.addr_spec, recipient, headers.encode("ascii") + body, eight_bit
        )


def _body_lines(text: str) -> bytes | None:
    """The body as `set_content` encodes it (7bit or 8bit) and the generator writes it (each
    line ended by CRLF), or None when the package would choose otherwise."""
    if not text or not text.replace("\n", "").isprintable():
        return None  # empty, or a control character, tab, CR or line separator in it
    lines = text.encode().split(b"\n")
    if text.endswith("\n"):
        lines.pop()
    if max(len(line) for line in lines) > _MAX_LINE:
        return None  # the package would pick quoted-printable or base64
    return b"\r\n".join(lines) + b"\r\n"
