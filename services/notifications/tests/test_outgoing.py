"""An email written directly is byte for byte what the `email` package writes for it.

The package's bytes are what aiosmtplib's `send_message` sends: the message flattened with the
SMTP policy, for a server with 8BITMIME and for one without, and its envelope read from the
From and To headers. Every email `OutgoingEmails` writes must match them; every email it leaves
to the package is sent as before, so leaving one is always safe, and the shop's own emails
must not need it.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.headerregistry import Address
from email.utils import format_datetime

import pytest
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message

from contracts.identity import UserRegisteredV1
from contracts.orders import OrderCancelledV1, OrderConfirmedV1, OrderRejectedV1
from contracts.values import StockShortfall
from notifications.domain import (
    Email,
    RenderedEmail,
    message_id,
    recipient_address,
    render_welcome,
)
from notifications.order_emails import (
    render_order_cancelled,
    render_order_confirmed,
    render_order_rejected,
)
from notifications.outgoing import FlatMessage, OutgoingEmails, build_message
from servicekit import new_id

pytestmark = pytest.mark.unit

SHOP = Address("Flotilla", "no-reply", "flotilla.local")
AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ORDER = "ord_01jz3k8w6x9a2b4c5d6e7f8g9h"
DATE = format_datetime(AT)


def _sent_by_the_package(
    sender: Address, email: Email, date: str, *, eight_bit_mime: bool
) -> tuple[str, str, bytes]:
    """What `send_message` hands to `sendmail`: envelope sender, recipient, content."""
    message = build_message(sender, email, date=date)
    envelope_sender = extract_sender(message)
    assert envelope_sender is not None
    [recipient] = extract_recipients(message)
    content = flatten_message(message, cte_type="8bit" if eight_bit_mime else "7bit")
    return envelope_sender, recipient, content


def _as_written(flat: FlatMessage | None) -> tuple[str, str, bytes] | None:
    return None if flat is None else (flat.sender, flat.recipient, flat.content)


def _assert_as_the_package_writes_it(sender: Address, email: Email, date: str) -> bool:
    """True when `OutgoingEmails` wrote `email` (then it matched what the package sends to a
    server with 8BITMIME, and to one without unless it left that to the package), False when
    it left it to the package."""
    outgoing = OutgoingEmails(sender).outgoing(email, date=date)
    assert outgoing.message().as_bytes() == build_message(sender, email, date=date).as_bytes()
    written = False
    for eight_bit_mime in (True, False):
        flat = outgoing.flat_for(eight_bit_mime=eight_bit_mime)
        if flat is not None:
            sent = _sent_by_the_package(sender, email, date, eight_bit_mime=eight_bit_mime)
            assert _as_written(flat) == sent, email
            written = True
    return written


def _shop_email(rendered: RenderedEmail, to: str = "ann@example.com") -> Email:
    return Email(
        message_id=message_id(new_id("ntf"), "flotilla.local"),
        recipient=recipient_address(to),
        subject=rendered.subject,
        body=rendered.body,
    )


PRODUCT = "prd_01jz3k8w6x9a2b4c5d6e7f8g9h"  # ids of the shop's length, amounts of every size
ANN = "ann@example.com"
SHOP_EMAILS = {
    "welcome": render_welcome(
        UserRegisteredV1(user_id="usr_1", email=ANN, name="Ann Lee", registered_at=AT)
    ),
    "order confirmed": render_order_confirmed(
        OrderConfirmedV1(
            order_id=ORDER, user_id="usr_1", email=ANN, total_cents=2590, currency="EUR",
            confirmed_at=AT,
        )
    ),
    "order cancelled": render_order_cancelled(
        OrderCancelledV1(
            order_id=ORDER, user_id="usr_1", email=ANN, reason="insufficient_funds",
            total_cents=99_999_999, currency="EUR", cancelled_at=AT,
        )
    ),
    "order rejected": render_order_rejected(
        OrderRejectedV1(
            order_id=ORDER, user_id="usr_1", email=ANN, rejected_at=AT,
            shortfalls=[
                StockShortfall(product_id=PRODUCT, reason=reason, requested=12, available=10)
                for reason in ("out_of_stock", "unknown_product", "currency_mismatch")
            ],
        )
    ),
}  # fmt: skip


@pytest.mark.parametrize("template", SHOP_EMAILS)
@pytest.mark.parametrize("to", ["ann@example.com", "ann.lee+orders@mail.example.co.uk"])
def test_the_shops_own_emails_are_written_directly_as_the_package_writes_them(
    template: str, to: str
) -> None:
    assert _assert_as_the_package_writes_it(SHOP, _shop_email(SHOP_EMAILS[template], to), DATE)


@pytest.mark.parametrize(
    "sender",
    [
        Address("Flotilla", "no-reply", "flotilla.local"),
        Address("", "no-reply", "flotilla.local"),
        Address("Flötilla Shop", "no-reply", "flotilla.local"),  # an encoded word
        Address("Shop, Inc.", "orders", "shop.example"),  # quoted
        Address("The Flotilla Shop's Order Desk and Customer Care Team Of Many Words", "x", "a.io"),
    ],
)
def test_the_sender_is_written_as_the_package_writes_it(sender: Address) -> None:
    email = _shop_email(SHOP_EMAILS["order confirmed"])
    assert _assert_as_the_package_writes_it(sender, email, DATE)


def test_a_sender_whose_address_needs_smtputf8_leaves_every_email_to_the_package() -> None:
    sender = Address("Shop", "bestellung", "bücher.example")
    outgoing = OutgoingEmails(sender).outgoing(_shop_email(SHOP_EMAILS["welcome"]), date=DATE)
    assert outgoing.flat is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Ihre Bestellung ist bestätigt"),
        ("subject", "=?utf-8?q?caf=C3=A9?="),
        ("subject", " leading space"),
        ("subject", "two  spaces"),
        ("subject", "a tab\there"),
        ("subject", "x" * 70),
        ("body", "Grüße aus " + "ü" * 35 + "\n"),  # 79 bytes of UTF-8
        ("body", "a no-break\u00a0space\n"),
        ("body", "a line of " + "x" * 70 + "\n"),
        ("body", "a carriage\rreturn\n"),
        ("body", ""),
        ("to", '"ann lee"@example.com'),
        ("to", "ann@localhost"),
        ("to", "ann@bücher.example"),
    ],
)
def test_what_the_package_must_encode_quote_or_fold_is_left_to_it(field: str, value: str) -> None:
    email = _shop_email(SHOP_EMAILS["order confirmed"])
    changed = Email(
        message_id=email.message_id,
        recipient=Address(addr_spec=value) if field == "to" else email.recipient,
        subject=value if field == "subject" else email.subject,
        body=value if field == "body" else email.body,
    )
    assert OutgoingEmails(SHOP).outgoing(changed, date=DATE).flat is None


# -- generated emails, on both sides of each condition ------------------------------------------

_LOCAL_CHARS = string.ascii_letters + string.digits + "_+-."
_ODD_CHARS = "=?!#$%&'*/^`{|}~\"é"


def _address(rng: random.Random) -> Address:
    local = "".join(rng.choice(_LOCAL_CHARS) for _ in range(rng.randint(1, 20))).strip(".")
    local = local.replace("..", ".") or "x"
    if rng.random() < 0.1:
        local += rng.choice(_ODD_CHARS)
    labels = ["".join(rng.choice(string.ascii_lowercase + "-") for _ in range(rng.randint(1, 12)))]
    labels += [rng.choice(["com", "example", "co", "io", "xn--bcher-kva"])] * rng.randint(0, 2)
    domain = ".".join(label.strip("-") or "a" for label in labels)
    if rng.random() < 0.05:
        domain += "x" * rng.randint(40, 70)  # past the line
    try:
        return Address(addr_spec=f"{local}@{domain}")
    except (ValueError, IndexError):
        return Address(addr_spec="fallback@example.com")


def _subject(rng: random.Random) -> str:
    words = [
        "".join(rng.choice(string.ascii_letters + string.digits + "!$()-:,.'") for _ in range(n))
        for n in (rng.randint(1, 12) for _ in range(rng.randint(1, 9)))
    ]
    return _sometimes_changed(
        rng,
        " ".join(words),
        (0.05, lambda subject: subject + " =?"),
        (0.05, lambda subject: subject.replace(" ", "  ", 1)),
        (0.05, lambda subject: subject + " über"),
        (0.05, lambda subject: " " + subject),
    )


def _body(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(0, 6)):
        width = rng.choice([0, 5, 30, 60, 70, 76, 77, 78, 79, 90])
        line = "".join(rng.choice(string.printable[:94] + " ") for _ in range(width))
        if rng.random() < 0.2:
            line = line[: rng.randint(0, width)] + rng.choice(["é", "—", "ü€"])  # 8bit, near 78
        lines.append(line.rstrip() if rng.random() < 0.5 else line)
    return _sometimes_changed(
        rng,
        "\n".join(lines),
        (0.6, lambda body: body + "\n"),
        (0.05, lambda body: body + "\r\n"),
        (0.05, lambda body: body + "\tcafé\n"),
        (0.05, lambda body: "From the start\n.\n" + body),
    )


def _sometimes_changed(
    rng: random.Random, text: str, *changes: tuple[float, Callable[[str], str]]
) -> str:
    """`text` with at most one of `changes`, each taken with its own probability."""
    roll = rng.random()
    for probability, change in changes:
        if roll < probability:
            return change(text)
        roll -= probability
    return text


def _message_id(rng: random.Random) -> str:
    if rng.random() < 0.9:
        return message_id(new_id("ntf"), rng.choice(["flotilla.local", "mail.example.com"]))
    return rng.choice(["<a b@x.io>", "<x@y>", "<" + "x" * 70 + "@y.io>", "no-brackets@x.io"])


def _date(rng: random.Random) -> str:
    offset = timezone(timedelta(minutes=rng.randint(-12 * 60, 14 * 60)))
    moment = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 2_000_000_000))
    return format_datetime(moment.astimezone(offset))


def test_generated_emails_are_written_directly_only_as_the_package_writes_them() -> None:
    rng = random.Random(20261207)  # noqa: S311 - a corpus, the same on every run
    written = declined = eight_bit = 0
    for _ in range(3_000):
        email = Email(
            message_id=_message_id(rng),
            recipient=_address(rng),
            subject=_subject(rng),
            body=_body(rng),
        )
        if _assert_as_the_package_writes_it(SHOP, email, _date(rng)):
            written += 1
            eight_bit += not email.body.isascii()
        else:
            declined += 1
    # Both sides of the conditions were reached, often.
    assert written > 500
    assert eight_bit > 150
    assert declined > 500


def test_a_utf8_body_is_written_for_8bitmime_and_left_to_the_package_without() -> None:
    email = _shop_email(SHOP_EMAILS["order confirmed"])  # signed with an em dash
    outgoing = OutgoingEmails(SHOP).outgoing(email, date=DATE)
    flat = outgoing.flat_for(eight_bit_mime=True)
    assert flat is not None
    assert flat.eight_bit
    assert b"Content-Transfer-Encoding: 8bit\r\n" in flat.content
    assert outgoing.flat_for(eight_bit_mime=False) is None  # the package sends it in base64
