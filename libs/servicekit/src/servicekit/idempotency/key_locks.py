"""In-process queueing of concurrent requests that carry the same idempotency key.

Postgres alone keeps duplicates correct across replicas (the second insert of a key waits on
the first's uncommitted row), but a duplicate then has already run its handler — hashing a
password, calling a provider — only to roll it all back. Within one process, duplicates wait
here instead, before doing anything, and then find the first one's committed record.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

__all__ = ["KeyLockTimeout", "KeyLocks"]


class KeyLockTimeout(Exception):
    """Another request with the same key held it for longer than the wait allowed."""


class KeyLocks:
    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable, *, timeout_s: float) -> AsyncIterator[None]:
        held = self._locks.get(key)
        lock, users = held if held is not None else (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            if held is None:
                await lock.acquire()  # a lock of its own, free: taken without waiting
            else:
                try:
                    async with asyncio.timeout(timeout_s):
                        await lock.acquire()
                except TimeoutError:
                    raise KeyLockTimeout from None
            try:
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
