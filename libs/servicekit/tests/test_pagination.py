"""Cursors are opaque round-trips of the last id shown; anything else is a 400 problem."""

from __future__ import annotations

import pytest

from servicekit.errors import ProblemError
from servicekit.ids import new_id
from servicekit.pagination import decode_cursor, encode_cursor

pytestmark = pytest.mark.unit


def test_a_cursor_round_trips_the_id_it_was_made_from() -> None:
    last_id = new_id("ord")
    cursor = encode_cursor(last_id)
    assert last_id not in cursor
    assert decode_cursor(cursor, "ord") == last_id


@pytest.mark.parametrize(
    "cursor",
    ["", "garbage", "%%%", encode_cursor("ord_short"), encode_cursor(new_id("usr")), "\x00"],
)
def test_a_cursor_this_api_did_not_hand_out_is_a_400_problem(cursor: str) -> None:
    with pytest.raises(ProblemError) as refused:
        decode_cursor(cursor, "ord")
    assert (refused.value.status, refused.value.slug) == (400, "invalid-cursor")
