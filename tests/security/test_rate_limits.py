"""Item 2 of the hardening issue: rate limits keyed on something the client cannot invent.
The gateway used to bucket on the raw Authorization header, so 300 requests with a fresh junk
bearer each all passed where 300 anonymous ones got 191 x 429. It now buckets on the client
address; identity also throttles failed logins per account, which a guesser spread over many
addresses cannot dodge.

The burst test does not time anything: anonymous requests and requests with a fresh junk
bearer each go out interleaved, in waves, until the anonymous ones have met the limit often
enough. A bucket per token would admit every junk request however the two kinds arrive; one
bucket per address refuses both kinds alike once it is empty. A slow machine only needs more
waves (bounded: a gateway that never refuses the anonymous side fails the test)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import Counter

import httpx

from devstack.attack_log import Attacks
from devstack.shop import Shop

# identity's limit (deploy/routes.yaml): 50 requests/s with a burst of 100.
PATH = "/identity/.well-known/jwks.json"
WAVE = 50  # of each kind, sent at once, interleaved
MAX_WAVES = 40  # 4000 requests at most
REFUSALS_TO_DECIDE = 50  # anonymous 429s before the junk side is judged


async def _waves(gateway: httpx.AsyncClient) -> tuple[Counter[int], Counter[int], int]:
    """The statuses of the anonymous and the junk-bearer requests, and how many waves."""

    async def one(junk_bearer: bool) -> tuple[bool, int]:
        headers = {"authorization": f"Bearer {secrets.token_urlsafe(24)}"} if junk_bearer else {}
        return junk_bearer, (await gateway.get(PATH, headers=headers)).status_code

    anonymous: Counter[int] = Counter()
    junk: Counter[int] = Counter()
    for wave in range(1, MAX_WAVES + 1):
        answers = await asyncio.gather(*(one(n % 2 == 1) for n in range(2 * WAVE)))
        for junk_bearer, status in answers:
            (junk if junk_bearer else anonymous)[status] += 1
        if anonymous[429] >= REFUSALS_TO_DECIDE:
            return anonymous, junk, wave
    return anonymous, junk, MAX_WAVES


async def test_junk_bearer_tokens_get_no_bucket_of_their_own(
    gateway: httpx.AsyncClient, attacks: Attacks
) -> None:
    anonymous, junk, waves = await _waves(gateway)
    attacks.tried(
        f"{waves} waves of {WAVE} anonymous + {WAVE} fresh-junk-bearer GET {PATH}, interleaved",
        f"anonymous {dict(anonymous)}, junk bearer {dict(junk)}",
    )
    assert set(anonymous) <= {200, 429}
    assert set(junk) <= {200, 429}
    assert anonymous[429] >= REFUSALS_TO_DECIDE, "the gateway never limited this address"
    # One bucket for both: the junk side meets the limit about as often as the anonymous side.
    assert junk[429] * 4 >= anonymous[429], (anonymous, junk)


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
