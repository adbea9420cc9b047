"""Fault tests across the whole shop: a service killed mid-flow, the provider down for longer
than payments waits. `make chaos` runs them all; `make test` runs those that take well under
two minutes and skips the ones marked `chaos`, unless FLOTILLA_CHAOS=1 (which `make chaos`
sets; by hand: `FLOTILLA_CHAOS=1 FLOTILLA_PROFILE=test pytest tests/chaos -k ...`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import httpx
import pytest

from devstack.process import port_open
from devstack.profiles import Profile
from devstack.provider_keys import provider_client
from devstack.shop import Customer, Shop
from devstack.stack import ADMIN_EMAIL, Stack
from servicekit.testing.events import eventually


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: a fault test longer than a minute; only `make chaos` runs it"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("FLOTILLA_CHAOS") == "1":
        return
    skip = pytest.mark.skip(reason="a chaos test: `make chaos` runs it (FLOTILLA_CHAOS=1)")
    for item in items:
        if item.get_closest_marker("chaos"):
            item.add_marker(skip)


@pytest.fixture
async def shop(test_stack: Stack, stack_profile: Profile) -> AsyncIterator[Shop]:
    """A patient client: it rides out a restarting service (502/503/504 for up to a minute),
    as a well-behaved client would, with the same Idempotency-Key on every retry."""
    limits = httpx.Limits(max_connections=50)
    async with (
        httpx.AsyncClient(base_url=stack_profile.gateway_url, timeout=30, limits=limits) as client,
        provider_client(test_stack, timeout=30) as provider,
    ):
        yield Shop(client, provider=provider, patience_s=60.0)


@pytest.fixture
async def admin(shop: Shop, test_stack: Stack) -> Customer:
    return await shop.log_in(ADMIN_EMAIL, test_stack.admin_password)


class Crashes:
    """Kills a service of the running stack as a crash would (SIGKILL), and starts it again as
    `devstack up` started it (exporting traces when the stack runs Jaeger)."""

    def __init__(self, stack: Stack) -> None:
        self._stack = Stack(stack.profile, observability=stack.jaeger.is_running())

    async def kill(self, name: str) -> None:
        service = self._stack.service(name)
        await asyncio.to_thread(service.kill)

        async def port_closed() -> bool:
            return not await asyncio.to_thread(port_open, service.host, service.port)

        # kill() returns once the main thread is a zombie; the process's other threads may
        # hold its listening socket a moment longer, and start() refuses a taken port.
        await eventually(port_closed, timeout_s=10, what=f"{name}'s port to close")

    async def start(self, name: str) -> None:
        """Start it (a no-op when it runs) and wait until it is ready."""
        await asyncio.to_thread(self._stack.service(name).start)


@pytest.fixture
def crashes(test_stack: Stack) -> Crashes:
    return Crashes(test_stack)
