"""The rules with no I/O: the order's charge key and when to stop waiting for the provider."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payments.domain import GiveUpPolicy, charge_key

pytestmark = pytest.mark.unit

RESERVED = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_every_attempt_at_an_order_uses_the_same_key() -> None:
    assert charge_key("ord_1") == charge_key("ord_1") == "order-ord_1"
    assert charge_key("ord_1") != charge_key("ord_2")


def test_the_last_attempt_is_the_last_in_place_attempt_of_the_last_tier() -> None:
    policy = GiveUpPolicy.for_consumer(60.0, (5.0, 15.0, 30.0), in_place_attempts=3)
    assert policy.last_attempt == 12


@pytest.mark.parametrize(
    ("age_s", "attempt", "gives_up"),
    [
        (0.0, 1, False),
        (59.9, 11, False),
        (60.0, 1, True),  # old enough
        (3600.0, 4, True),
        (1.0, 12, True),  # the consumer's last attempt: never the dead-letter topic
    ],
)
def test_a_payment_gives_up_once_old_enough_or_at_the_last_attempt(
    age_s: float, attempt: int, gives_up: bool
) -> None:
    policy = GiveUpPolicy(give_up_s=60.0, last_attempt=12)
    now = RESERVED + timedelta(seconds=age_s)
    assert policy.gives_up(RESERVED, now, attempt) is gives_up


def test_a_reservation_time_without_an_offset_is_taken_as_utc() -> None:
    policy = GiveUpPolicy(give_up_s=60.0, last_attempt=12)
    naive = RESERVED.replace(tzinfo=None)
    assert policy.gives_up(naive, RESERVED + timedelta(seconds=61), 1)
    assert not policy.gives_up(naive, RESERVED + timedelta(seconds=1), 1)
