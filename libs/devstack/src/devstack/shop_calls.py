"""How the Shop (devstack.shop) makes each call: one operation of a generated client, retried as
a well-behaved client does, its answer parsed into the operation's model.

The caller picks the operation's Idempotency-Key once, before the first attempt, so that every
retry sends the same one. A `429` from the gateway's rate limit is retried after its
`Retry-After` (for at least 30 s); with `patience_s`, so are a connection that failed, `502`,
`503` and `504` (a service restarting, a breaker open), and a
`409 …:idempotency-key-in-progress` (an earlier attempt, cut off by a timeout, still holds the
key), until that much time has passed.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from http import HTTPStatus
from typing import Any, Protocol, TypeVar

import httpx

__all__ = ["Answer", "AnyPage", "Item", "Page", "ShopError", "fresh_key", "patiently"]

_UNAVAILABLE = frozenset({502, 503, 504})
_RATE_LIMIT_PATIENCE_S = 30.0
_IN_PROGRESS = "urn:flotilla:problem:idempotency-key-in-progress"

Parsed = TypeVar("Parsed")


class ShopError(RuntimeError):
    """The shop answered what the caller did not expect; says what was asked and answered."""

    def __init__(self, what: str, status: int, body: str) -> None:
        super().__init__(f"{what} answered {status}: {body[:500]}")
        self.status = status


class Answer(Protocol):
    """What every generated client's `asyncio_detailed` returns (each package has its own
    `types.Response` class, all of this shape)."""

    @property
    def status_code(self) -> HTTPStatus: ...
    @property
    def content(self) -> bytes: ...
    @property
    def headers(self) -> MutableMapping[str, str]: ...
    @property
    def parsed(self) -> Any: ...


class Item(Protocol):
    """A generated model: its JSON is `to_dict()`."""

    def to_dict(self) -> dict[str, Any]: ...


class Page(Protocol):
    """A generated model of one page of a list (ProductPage, OrderPage, ...)."""

    @property
    def items(self) -> Sequence[Item]: ...
    @property
    def next_cursor(self) -> str | None: ...


AnyPage = TypeVar("AnyPage", bound=Page)


def fresh_key() -> str:
    """An Idempotency-Key for one intended operation."""
    return str(uuid.uuid4())


async def patiently(
    what: str,
    send: Callable[[], Awaitable[Answer]],
    parsed: type[Parsed],
    *,
    ok: tuple[int, ...] = (200,),
    patience_s: float = 0.0,
) -> Parsed:
    """`send()` until it answers one of `ok` with a `parsed` body, which it returns; ShopError
    (naming `what`, e.g. "POST /orders/v1/orders") for any other answer it does not retry."""
    started = time.monotonic()
    delay = 0.1
    while True:
        waited = time.monotonic() - started
        try:
            answer = await send()
        except httpx.TransportError:
            if waited >= patience_s:
                raise
            pause = delay
        else:
            status = int(answer.status_code)
            text = answer.content.decode(errors="replace")
            if status in ok:
                if isinstance(answer.parsed, parsed):
                    return answer.parsed
                raise ShopError(what, status, f"not a {parsed.__name__}: {text}")
            pause = _retry_after(answer.headers, delay)
            if not (
                (status == 429 and waited < max(patience_s, _RATE_LIMIT_PATIENCE_S))
                or (status in _UNAVAILABLE and waited < patience_s)
                or (_in_progress(status, answer.content) and waited < patience_s)
            ):
                raise ShopError(what, status, text)
        await asyncio.sleep(pause)
        delay = min(delay * 2, 1.0)


def _in_progress(status: int, content: bytes) -> bool:
    if status != 409:
        return False
    try:
        body = json.loads(content)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("type") == _IN_PROGRESS


def _retry_after(headers: Mapping[str, str], default: float) -> float:
    try:
        return min(float(headers.get("retry-after", default)), 5.0)
    except ValueError:
        return default
