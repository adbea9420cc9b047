"""Item 9: a service cut off from identity stops trusting the keys it cached, after a hard
limit. It used to keep the last JWKS it fetched forever when refreshing failed, so a key that
identity retired (say, because it leaked) kept verifying tokens in a service that could not
reach identity. Now the keys verify for `max_age_s` after their last successful fetch; past
that every token is a 401 problem until a refresh succeeds.

The keys come from identity's real JWKS endpoint; the outage is a switch in the client's
transport, and the clock is the test's, so no waiting is involved."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from devstack.attack_log import Attacks
from devstack.shop import Customer
from devstack.stack import Stack
from servicekit.auth.dependencies import CurrentPrincipal, install_token_verifier
from servicekit.auth.jwks import JwksKeySource
from servicekit.auth.tokens import TokenVerifier
from servicekit.errors import install_problem_handlers

TTL_S, MAX_AGE_S = 300.0, 3_600.0


class _Link(httpx.AsyncBaseTransport):
    """The service's way to identity, which the test can cut."""

    def __init__(self) -> None:
        self.up = True
        self._real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("identity unreachable", request=request)
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        await self._real.aclose()


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def service(test_stack: Stack) -> AsyncIterator[tuple[httpx.AsyncClient, _Link, _Clock]]:
    """A service's token check (servicekit's) on identity's real JWKS, and one route."""
    link, clock = _Link(), _Clock()
    jwks_url = f"{test_stack.service('identity').url}/.well-known/jwks.json"
    async with httpx.AsyncClient(transport=link, trust_env=False) as to_identity:
        keys = JwksKeySource(jwks_url, to_identity, ttl_s=TTL_S, max_age_s=MAX_AGE_S, clock=clock)
        app = FastAPI()
        install_problem_handlers(app)
        install_token_verifier(
            app, TokenVerifier(keys, issuer="flotilla-identity", audience="flotilla")
        )

        @app.get("/me")
        async def me(principal: CurrentPrincipal) -> dict[str, str]:
            return {"subject": principal.subject}

        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://service"
        ) as client:
            yield client, link, clock


async def test_cached_keys_stop_verifying_after_their_hard_limit_without_identity(
    service: tuple[httpx.AsyncClient, _Link, _Clock], admin: Customer, attacks: Attacks
) -> None:
    client, link, clock = service
    assert (await client.get("/me", headers=admin.auth)).status_code == 200  # keys fetched

    link.up = False
    clock.now += TTL_S + 1  # stale: a refresh is tried, fails; the cached keys still serve
    served = await client.get("/me", headers=admin.auth)
    attacks.tried("a valid token, identity unreachable, keys past their refresh time", served)
    assert served.status_code == 200, served.text

    clock.now += MAX_AGE_S  # past the hard limit since the last successful fetch
    refused = await client.get("/me", headers=admin.auth)
    attacks.tried("a valid token, identity unreachable, keys past their hard limit", refused)
    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"] == "urn:flotilla:problem:invalid-token"

    link.up = True
    clock.now += TTL_S  # the next refresh attempt is due
    back = await client.get("/me", headers=admin.auth)
    attacks.tried("the same token once identity answers again", back)
    assert back.status_code == 200, back.text
    assert back.json() == {"subject": admin.user_id}
