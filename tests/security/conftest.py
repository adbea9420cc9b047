"""The attack suite: each test tries an attack on the running stack — through the gateway, as
anyone on the internet can, or directly on a service, as anything inside the network can — and
asserts the refusal. Every attempt is recorded with the answer it got, and the list is printed
at the end of the run ("attacks tried"), whatever pytest captures.

Run it against a running stack: `FLOTILLA_PROFILE=dev-a pytest tests/security`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from devstack.attack_log import Attacks, print_attacks
from devstack.provider_keys import provider_client
from devstack.shop import Customer, Shop
from devstack.stack import ADMIN_EMAIL, Stack


@pytest.fixture
def attacks(request: pytest.FixtureRequest) -> Attacks:
    return Attacks(request.node.name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.section("attacks tried")
    print_attacks(terminalreporter.write_line)


@pytest.fixture
async def gateway(test_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The outside world's only way in."""
    async with httpx.AsyncClient(
        base_url=test_stack.profile.gateway_url, timeout=30, trust_env=False
    ) as client:
        yield client


@pytest.fixture
async def shop(gateway: httpx.AsyncClient, test_stack: Stack) -> AsyncIterator[Shop]:
    async with provider_client(test_stack, timeout=30) as provider:
        yield Shop(gateway, provider=provider)


@pytest.fixture
async def admin(shop: Shop, test_stack: Stack) -> Customer:
    return await shop.log_in(ADMIN_EMAIL, test_stack.admin_password)
