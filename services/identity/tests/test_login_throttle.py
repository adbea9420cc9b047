"""Failed logins are throttled per address, with back-off — against real Postgres. The
gateway limits per client address; this is what slows a guesser spread over many addresses."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from identity.domain import LoginThrottle

PASSWORD = "correct horse battery staple"


def test_the_back_off_doubles_after_the_free_attempts_up_to_its_maximum() -> None:
    throttle = LoginThrottle(free_attempts=5, base_delay_s=1, max_delay_s=60)
    assert [throttle.lock_after(n) for n in range(1, 12)] == [
        0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60,
    ]  # fmt: skip
    assert throttle.lock_after(10_000) == 60


async def _sign_up(identity: httpx.AsyncClient) -> str:
    email = f"throttled-{uuid.uuid4().hex[:12]}@example.com"
    response = await identity.post(
        "/v1/users",
        json={"email": email, "password": PASSWORD, "name": "Throttled"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return email


async def _log_in(identity: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await identity.post("/v1/tokens", json={"email": email, "password": password})


def _throttled(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:flotilla:problem:login-throttled"
    return int(response.headers["retry-after"])


async def test_an_account_is_locked_after_the_free_failures_even_for_the_right_password(
    identity: httpx.AsyncClient,
) -> None:
    email = await _sign_up(identity)
    for _ in range(5):
        assert (await _log_in(identity, email, "wrong")).status_code == 401
    # Any spelling of the address is the same account.
    retry_after = _throttled(await _log_in(identity, f"  {email.upper()} ", PASSWORD))
    assert retry_after == 1
    other = await _sign_up(identity)
    assert (await _log_in(identity, other, PASSWORD)).status_code == 200  # only that account

    await asyncio.sleep(retry_after + 0.2)
    assert (await _log_in(identity, email, PASSWORD)).status_code == 200
    # The success forgot the failures: a wrong password is a plain 401 again.
    assert (await _log_in(identity, email, "wrong")).status_code == 401


async def test_each_failure_past_the_free_ones_doubles_the_lock(
    identity: httpx.AsyncClient,
) -> None:
    email = await _sign_up(identity)
    for _ in range(5):
        await _log_in(identity, email, "wrong")
    await asyncio.sleep(_throttled(await _log_in(identity, email, "wrong")) + 0.2)
    assert (await _log_in(identity, email, "wrong")).status_code == 401  # the 6th failure
    assert _throttled(await _log_in(identity, email, PASSWORD)) == 2


@pytest.mark.parametrize("email", ["nobody-{tag}@example.com", "NOBODY-{tag}@example.com"])
async def test_an_unknown_address_is_throttled_alike(
    identity: httpx.AsyncClient, email: str
) -> None:
    """Otherwise the throttle would tell which addresses have an account."""
    address = email.format(tag=uuid.uuid4().hex[:12])
    for _ in range(5):
        assert (await _log_in(identity, address, "guess")).status_code == 401
    _throttled(await _log_in(identity, address, "guess"))
