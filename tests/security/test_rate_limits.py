"""Item 2 of the hardening issue: rate limits keyed on something the client cannot invent.
The gateway used to bucket on the raw Authorization header, so 300 requests with a fresh junk
bearer each all passed where 300 anonymous ones got 191 x 429. It now buckets on the client
address; identity also throttles failed logins per account, which a guesser spread over many
addresses cannot dodge."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import Counter

import httpx

from devstack.attack_log import Attacks
from devstack.shop import Shop

REQUESTS = 300
# identity's limit (deploy/routes.yaml): 50 requests/s with a burst of 100.
PATH = "/identity/.well-known/jwks.json"


async def _burst(gateway: httpx.AsyncClient, junk_bearer: bool) -> Counter[int]:
    async def one() -> int:
        headers = {"authorization": f"Bearer {secrets.token_urlsafe(24)}"} if junk_bearer else {}
        return (await gateway.get(PATH, headers=headers)).status_code

    return Counter(await asyncio.gather(*(one() for _ in range(REQUESTS))))


async def test_junk_bearer_tokens_get_no_bucket_of_their_own(
    gateway: httpx.AsyncClient, attacks: Attacks
) -> None:
    anonymous = await _burst(gateway, junk_bearer=False)
    attacks.tried(f"{REQUESTS} x GET {PATH} at once, anonymous", str(dict(anonymous)))
    await asyncio.sleep(3)  # the bucket refills (100 at 50/s)
    junk = await _burst(gateway, junk_bearer=True)
    attacks.tried(
        f"{REQUESTS} x GET {PATH} at once, a new junk bearer token on each", str(dict(junk))
    )
    assert set(anonymous) <= {200, 429}
    assert set(junk) <= {200, 429}
    # At most the burst plus what refills while they are sent gets through, token or not.
    assert anonymous[429] >= REQUESTS // 3
    assert junk[429] >= REQUESTS // 3
    assert junk[200] <= anonymous[200] * 1.5


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
