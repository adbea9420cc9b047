import time
import uuid

import pytest

from servicekit import ids
from servicekit.ids import is_id, new_id, uuid7

pytestmark = pytest.mark.unit


def test_ids_carry_their_type() -> None:
    value = new_id("usr")
    assert value.startswith("usr_")
    assert is_id(value, "usr")
    assert not is_id(value, "ord")


def test_ids_made_one_after_another_sort_in_that_order_even_within_a_millisecond() -> None:
    made = [new_id("ntf") for _ in range(2_000)]  # many share a millisecond
    assert len({value[:14] for value in made}) < len(made)
    assert sorted(made) == made
    assert len(set(made)) == len(made)


def test_ids_keep_their_order_when_the_clock_steps_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = uuid7()
    monkeypatch.setattr(time, "time_ns", lambda: 1_000_000_000)  # 1970: the clock jumped back
    after = [uuid7() for _ in range(3)]
    assert [before, *after] == sorted([before, *after])
    assert all((value.version, value.variant) == (7, before.variant) for value in after)


def test_a_millisecond_whose_random_bits_ran_out_borrows_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now_ms = time.time_ns() // 1_000_000 + 60_000
    monkeypatch.setattr(ids, "_last", (now_ms, (1 << 74) - 1))
    value = uuid7()
    assert value.int >> 80 == now_ms + 1
    assert (value.version, value.variant) == (7, uuid.RFC_4122)


def test_ids_are_uuid_v7() -> None:
    value = uuid7(now_ms=1_700_000_000_000)
    assert value.version == 7
    assert value.int >> 80 == 1_700_000_000_000


def test_ids_from_different_milliseconds_order_by_time() -> None:
    from servicekit.ids import _encode

    early = _encode(uuid7(now_ms=1_000).int)
    late = _encode(uuid7(now_ms=2_000).int)
    assert early < late
