"""Password hashing with argon2id, off the event loop, within a memory budget.

Each argon2id hash holds `memory_cost` KiB (64 MiB by default) while it runs, in a worker
thread. Unbounded, six parallel logins took identity from 105 to 490 MiB against a 384 Mi
limit, so a burst of logins could get the pod OOM-killed. At most `budget // memory_cost`
hashes run at once; a request waits up to `wait_s` for a slot, then gets a 503 problem with
Retry-After (HashingBusy) — the service stays up and answers everyone else.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION

from servicekit import ServiceUnavailable

__all__ = ["HashingBusy", "Passwords"]

T = TypeVar("T")


class HashingBusy(ServiceUnavailable):
    slug = "hashing-busy"

    def __init__(self) -> None:
        super().__init__(
            "Too many sign-ups and logins at once; retry after Retry-After seconds.",
            headers={"Retry-After": "1"},
        )


class Passwords:
    def __init__(
        self,
        hasher: PasswordHasher | None = None,
        *,
        memory_budget_kib: int = 128 * 1024,
        wait_s: float = 5.0,
    ) -> None:
        self._hasher = hasher or PasswordHasher()
        slots = memory_budget_kib // self._hasher.memory_cost
        if slots < 1:
            raise ValueError(
                f"a password hash needs {self._hasher.memory_cost} KiB, "
                f"more than the budget of {memory_budget_kib} KiB"
            )
        self.slots = slots
        self._slots = asyncio.Semaphore(slots)
        self._wait_s = wait_s
        # Verified against when the email is unknown, so both failures take the same time.
        self._decoy = _decoy(self._hasher)

    @property
    def full(self) -> bool:
        """Every slot is taken: a new hash would wait (and answer busy after `wait_s`)."""
        return self._slots.locked()

    async def hash(self, password: str) -> str:
        return await self._in_budget(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        target = password_hash or self._decoy
        try:
            matched = await self._in_budget(self._hasher.verify, target, password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and password_hash is not None

    async def _in_budget(self, work: Callable[..., T], *args: str) -> T:
        """Run `work` in a thread once a slot is free (HashingBusy after `wait_s`). The slot is
        given back when the thread is done, not when the caller stops waiting: a cancelled
        request (its deadline) cannot stop the thread, whose memory stays held until then."""
        try:
            await asyncio.wait_for(self._slots.acquire(), self._wait_s)
        except TimeoutError:
            raise HashingBusy from None
        running = asyncio.ensure_future(asyncio.to_thread(work, *args))
        running.add_done_callback(self._release)
        return await asyncio.shield(running)

    def _release(self, done: asyncio.Future[Any]) -> None:
        self._slots.release()
        if not done.cancelled():
            done.exception()  # retrieved here too, so an abandoned failure is not reported


def _decoy(hasher: PasswordHasher) -> str:
    """A stored hash no password matches, with the hasher's parameters, so verifying against
    it costs what verifying a real one does. Written out rather than hashed: a hash at
    start-up held 64 MiB and half a second of identity's start (docs/performance.md)."""

    def encoded(data: bytes) -> str:
        return base64.b64encode(data).decode().rstrip("=")

    return (
        f"$argon2{hasher.type.name.lower()}$v={ARGON2_VERSION}"
        f"$m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
        f"${encoded(bytes(hasher.salt_len))}${encoded(bytes(hasher.hash_len))}"
    )
