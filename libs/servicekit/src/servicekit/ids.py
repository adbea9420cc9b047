"""Prefixed, time-ordered, random identifiers: `usr_01jz3k8w6x9a2b4c5d6e7f8g9h`.

The format is TypeID's: a type prefix, `_`, and a UUIDv7 (48-bit millisecond timestamp,
random bits) in Crockford base32. Ids sort by creation time, carry no counter, and say what
they identify — no integer crosses a service boundary.
"""

from __future__ import annotations

import os
import re
import time
import uuid

__all__ = ["is_id", "new_id", "uuid7"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_PREFIX = re.compile(r"^[a-z]{2,12}$")


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a
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
