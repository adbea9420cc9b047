"""Opaque cursors for keyset pagination over prefixed, time-ordered ids.

A page ends with the id of its last item; the client gets it back as an opaque `next_cursor`
(URL-safe base64, no padding), so the paging key can change without breaking clients. A cursor
that does not decode to an id of the expected kind is a 400 problem (`invalid-cursor`).
"""

from __future__ import annotations

import base64
import binascii

from servicekit.errors import ProblemError
from servicekit.ids import is_id

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str) -> str:
    """The id `cursor` continues after; raises a 400 ProblemError unless it is a `prefix` id."""
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if not is_id(decoded, prefix):
        raise ProblemError("The cursor is not valid.", status=400, slug="invalid-cursor")
    return decoded
