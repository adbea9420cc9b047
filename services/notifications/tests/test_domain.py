"""Rendering the welcome email, and the rules about addresses: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.identity import UserRegisteredV1
from notifications.domain import (
    InvalidRecipient,
    message_id,
    recipient_address,
    render_welcome,
)

pytestmark = pytest.mark.unit


def _registered(name: str = "Ann Lee", email: str = "ann@example.com") -> UserRegisteredV1:
    return UserRegisteredV1(
        user_id="usr_01jz3k8w6x9a2b4c5d6e7f8g9h",
        email=email,
        name=name,
        registered_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
    )


def test_the_welcome_greets_the_user_by_name_and_names_their_address() -> None:
    rendered = render_welcome(_registered())
    assert rendered.subject == "Welcome to Flotilla"
    assert rendered.body.startswith("Hi Ann Lee,\n\nWelcome to Flotilla!")
    assert "(ann@example.com)" in rendered.body
    assert rendered.body.endswith("\n")
    assert "\r" not in rendered.body


@pytest.mark.parametrize(
    ("name", "greeting"),
    [
        ("Ann\r\nBcc: victim@example.com", "Hi Ann Bcc: victim@example.com,"),
        ("  Ann \t Lee  ", "Hi Ann Lee,"),
        ("\x00\x1b", "Hi there,"),
        ("", "Hi there,"),
        ("Ö" * 300, f"Hi {'Ö' * 100},"),
    ],
)
def test_the_name_is_one_tidy_line(name: str, greeting: str) -> None:
    assert render_welcome(_registered(name=name)).body.splitlines()[0] == greeting


def test_the_subject_never_carries_user_input() -> None:
    assert render_welcome(_registered(name="Subject: spam")).subject == "Welcome to Flotilla"


def test_a_plain_address_is_a_recipient() -> None:
    address = recipient_address("ann.lee+flotilla@mail.example.com")
    assert address.addr_spec == "ann.lee+flotilla@mail.example.com"
    assert address.display_name == ""


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "ann@",
        "@example.com",
        "a@@example.com",
        "ann@localhost",
        "ann@example.com\r\nBcc: victim@example.com",
        "Ann <ann@example.com>",
        "ann@example.com, bob@example.com",
        "a b@example.com",
    ],
)
def test_anything_else_is_an_invalid_recipient(email: str) -> None:
    with pytest.raises(InvalidRecipient):
        recipient_address(email)


def test_the_message_id_is_derived_from_the_notification() -> None:
    assert message_id("ntf_01jz3k8w6x9a2b4c5d6e7f8g9h", "flotilla.local") == (
        "<ntf_01jz3k8w6x9a2b4c5d6e7f8g9h@flotilla.local>"
    )
