"""Password hashing stays within its memory budget: at most budget // 64 MiB argon2id hashes
run at once, a caller waits a little for a slot and then gets a 503 problem with Retry-After,
and a cancelled caller's hash keeps its slot until its thread is done."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from argon2 import PasswordHasher
from asgi_lifespan import LifespanManager

from identity.main import build_app
from identity.passwords import HashingBusy, Passwords
from identity.settings import IdentitySettings


class _HeldHasher(PasswordHasher):
    """Hashes only once `release` is set (and counts how many hash at once)."""

    def __init__(self) -> None:
        super().__init__(memory_cost=64 * 1024, time_cost=1)
        self.release = threading.Event()
        self.release.set()
        self.finished = threading.Event()
        """Set when a hash's thread is done."""

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.release.wait(10)
        try:
            return super().hash(password, salt=salt)
        finally:
            self.finished.set()


def test_a_budget_below_one_hash_is_refused() -> None:
    with pytest.raises(ValueError, match="more than the budget"):
        Passwords(PasswordHasher(memory_cost=64 * 1024), memory_budget_kib=32 * 1024)


async def test_a_full_budget_answers_busy_then_frees_up() -> None:
    hasher = _HeldHasher()
    passwords = Passwords(hasher, memory_budget_kib=64 * 1024, wait_s=0.1)
    assert passwords.slots == 1
    hasher.release.clear()
    first = asyncio.create_task(passwords.hash("first password"))
    await asyncio.sleep(0.05)
    with pytest.raises(HashingBusy) as busy:
        await passwords.hash("second password")
    assert busy.value.status == 503
    assert busy.value.headers == {"Retry-After": "1"}
    hasher.release.set()
    assert (await first).startswith("$argon2id$")
    assert (await passwords.hash("third password")).startswith("$argon2id$")


async def test_a_cancelled_hash_keeps_its_slot_until_its_thread_is_done() -> None:
    hasher = _HeldHasher()
    passwords = Passwords(hasher, memory_budget_kib=64 * 1024, wait_s=0.1)
    hasher.release.clear()
    abandoned = asyncio.create_task(passwords.hash("abandoned"))
    await asyncio.sleep(0.05)
    abandoned.cancel()  # e.g. the request's deadline
    with pytest.raises(HashingBusy):
        await passwords.hash("next")  # the thread still holds the memory
    hasher.finished.clear()
    hasher.release.set()
    await asyncio.to_thread(hasher.finished.wait, 60)  # the abandoned thread is done ...
    # ... and its slot comes back within a few turns of the loop (a done-callback).
    while passwords.full:  # noqa: ASYNC110 - no event to wait on: counted in loop turns
        await asyncio.sleep(0)
    assert (await passwords.hash("after")).startswith("$argon2id$")


@pytest.fixture
async def one_slot(identity_settings: IdentitySettings) -> AsyncIterator[httpx.AsyncClient]:
    settings = identity_settings.model_copy(
        update={"password_hash_memory_budget_mib": 64, "password_hash_wait_s": 0.05}
    )
    app = build_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            yield client


async def test_parallel_logins_over_the_budget_get_503_with_retry_after(
    one_slot: httpx.AsyncClient,
) -> None:
    async def log_in() -> httpx.Response:
        email = f"nobody-{uuid.uuid4().hex[:12]}@example.com"
        return await one_slot.post("/v1/tokens", json={"email": email, "password": "guess"})

    answers = await asyncio.gather(*(log_in() for _ in range(8)))
    statuses = Counter(response.status_code for response in answers)
    assert set(statuses) <= {401, 503}
    assert statuses[503] >= 1
    busy = next(response for response in answers if response.status_code == 503)
    assert busy.headers["retry-after"] == "1"
    assert busy.headers["content-type"] == "application/problem+json"
    assert busy.json()["type"] == "urn:flotilla:problem:hashing-busy"
    assert (await one_slot.get("/livez")).status_code == 200
