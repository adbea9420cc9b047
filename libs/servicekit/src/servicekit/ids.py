"""Prefixed, time-ordered, random identifiers: `usr_01jz3k8w6x9a2b4c5d6e7f8g9h`.

The format is TypeID's: a type prefix, `_`, and a UUIDv7 (48-bit millisecond timestamp,
random bits) in Crockford base32. Ids say what they identify — no integer crosses a service
boundary — and sort by creation time: across processes by their millisecond, and within one
process strictly, even inside a millisecond (RFC 9562's monotonic random, §6.2 method 2: an id
made in the same millisecond as the one before, or after the clock stepped back, is the one
before plus a random step of up to 2**32, its 74 random bits read as a number, so the next id
is still not guessable from the last).
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid

__all__ = ["is_id", "new_id", "uuid7"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_PREFIX = re.compile(r"^[a-z]{2,12}$")


_RANDOM_BITS = 74  # rand_a (12) and rand_b (62)
_last = (0, 0)  # (millisecond, random bits) of this process's newest id
_last_lock = threading.Lock()


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    """A new UUIDv7, later than every one this process made before; `now_ms` makes one of
    that millisecond instead, outside the sequence (for tests)."""
    global _last
    rand = int.from_bytes(os.urandom(10), "big") >> (80 - _RANDOM_BITS)
    if now_ms is not None:
        return _assemble(now_ms, rand)
    ms = time.time_ns() // 1_000_000
    with _last_lock:
        last_ms, last_rand = _last
        if ms <= last_ms:  # the same millisecond, or the clock stepped back
            ms, rand = last_ms, last_rand + 1 + (rand >> (_RANDOM_BITS - 32))
            if rand >> _RANDOM_BITS:  # 2**74 ids in one millisecond: borrow the next one
                ms, rand = ms + 1, 0
        _last = (ms, rand)
    return _assemble(ms, rand)


def _assemble(ms: int, rand: int) -> uuid.UUID:
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= (rand >> 62) << 64  # rand_a
    value |= 0b10 << 62  # RFC 9562 variant
    value |= rand & ((1 << 62) - 1)  # rand_b
    return uuid.UUID(int=value)


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    if not _PREFIX.match(prefix):
        raise ValueError(f"id prefix must be 2-12 lowercase letters, got {prefix!r}")
    return f"{prefix}_{_encode(uuid7().int)}"


def is_id(value: str, prefix: str) -> bool:
    head, sep, tail = value.partition("_")
    return (
        sep == "_"
        and head == prefix
        and len(tail) == 26
        and tail[0] in "01234567"
        and all(c in _ALPHABET for c in tail)
    )
