import pytest

from servicekit.ids import is_id, new_id, uuid7

pytestmark = pytest.mark.unit


def test_ids_carry_their_type_and_sort_by_creation_time() -> None:
    first = new_id("usr")
    later = [new_id("usr") for _ in range(100)]
    assert first.startswith("usr_")
    assert all(is_id(value, "usr") for value in later)
    assert not is_id(first, "ord")
    assert sorted({first, *later})[0] == first or first[:14] == sorted(later)[0][:14]


def test_ids_are_uuid_v7() -> None:
    value = uuid7(now_ms=1_700_000_000_000)
    assert value.version == 7
    assert value.int >> 80 == 1_700_000_000_000


def test_ids_from_different_milliseconds_order_by_time() -> None:
    from servicekit.ids import _encode

    early = _encode(uuid7(now_ms=1_000).int)
    late = _encode(uuid7(now_ms=2_000).int)
    assert early < late
