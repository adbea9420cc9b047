"""Fixtures of the end-to-end tests: they talk to the running test stack through its gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from devstack.profiles import Profile
from devstack.stack import Stack


@pytest.fixture
async def gateway(test_stack: Stack, stack_profile: Profile) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack_profile.gateway_url, timeout=10) as client:
        yield client
