"""Item 2 of the hardening issue: rate limits keyed on something the client cannot invent.
The gateway used to bucket on the raw Authorization header, so 300 requests with a fresh junk
bearer each all passed where 300 anonymous ones got 191 x 429. It now buckets on the client
address; identity also throttles failed logins per account, which a guesser spread over many
addresses cannot dodge."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import Counter

import httpx
import pytest

from devstack.attack_log import Attacks
from devstack.shop import Shop

REQUESTS = 300
# identity's limit (deploy/routes.yaml): 50 requests/s with a burst of 100.
PATH = "/identity/.well-known/jwks.json"
RATE, BURST = 50, 100


async def _burst(gateway: httpx.AsyncClient, junk_bearer: bool) -> tuple[Counter[int], float]:
    """The statuses of REQUESTS requests sent at once, and how long they took."""

    async def one() -> int:
        headers = {"authorization": f"Bearer {secrets.token_urlsafe(24)}"} if junk_bearer else {}
        return (await gateway.get(PATH, headers=headers)).status_code

    started = time.monotonic()
    statuses = Counter(await asyncio.gather(*(one() for _ in range(REQUESTS))))
    return statuses, time.monotonic() - started


def _admitted_at_most(elapsed_s: float) -> float:
    """What one bucket lets through in that time: the burst, the refill, 10 % slack."""
    return (BURST + RATE * elapsed_s) * 1.1


async def test_junk_bearer_tokens_get_no_bucket_of_their_own(
    gateway: httpx.AsyncClient, attacks: Attacks
) -> None:
    anonymous, anonymous_s = await _burst(gateway, junk_bearer=False)
    attacks.tried(
        f"{REQUESTS} x GET {PATH} at once, anonymous", f"{dict(anonymous)} in {anonymous_s:.1f}s"
    )
    await asyncio.sleep(BURST / RATE + 1)  # the bucket refills
    junk, junk_s = await _burst(gateway, junk_bearer=True)
    attacks.tried(
        f"{REQUESTS} x GET {PATH} at once, a new junk bearer token on each",
        f"{dict(junk)} in {junk_s:.1f}s",
    )
    assert set(anonymous) <= {200, 429}
    assert set(junk) <= {200, 429}
    if _admitted_at_most(junk_s) >= REQUESTS:
        # A bucket per token would admit all REQUESTS; so would one bucket refilled this long.
        pytest.skip(f"the burst took {junk_s:.1f}s: too slow to tell the two apart")
    assert junk[429] > 0
    assert junk[200] <= _admitted_at_most(junk_s)
    assert anonymous[200] <= _admitted_at_most(anonymous_s)


async def test_failed_logins_lock_the_account_whatever_the_address(
    gateway: httpx.AsyncClient, shop: Shop, attacks: Attacks
) -> None:
    await asyncio.sleep(2)  # identity's gateway bucket refills after the test above
    email = f"guessed-{uuid.uuid4().hex[:12]}@example.com"
    password = f"Right-{uuid.uuid4().hex}"
    await shop.sign_up("Guessed", email, password)
    # Each guess from another (claimed) address: the account's lock does not care.
    for n in range(5):
        guess = await gateway.post(
            "/identity/v1/tokens",
            json={"email": email, "password": f"guess-{n}"},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        )
        attacks.tried(f"log in as {email} with a wrong password, guess {n + 1}", guess)
        assert guess.status_code == 401, guess.text
    locked = await gateway.post("/identity/v1/tokens", json={"email": email, "password": password})
    attacks.tried("log in with the right password right after 5 wrong ones", locked)
    assert locked.status_code == 429, locked.text
    assert locked.json()["type"] == "urn:flotilla:problem:login-throttled"
    await asyncio.sleep(int(locked.headers["retry-after"]) + 0.3)
    after = await gateway.post("/identity/v1/tokens", json={"email": email, "password": password})
    attacks.tried("log in with the right password after Retry-After", after)
    assert after.status_code == 200, after.text
