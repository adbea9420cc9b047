from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from asgi_lifespan import LifespanManager

from devstack.stack import Stack
from identity.main import build_app
from identity.settings import IdentitySettings
from servicekit.auth import write_new_signing_key
from servicekit.db import bootstrap_database


@pytest.fixture(scope="session")
async def identity_settings(
    scratch_database: Callable[[str, str], tuple[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
    test_stack: Stack,
) -> IdentitySettings:
    admin_url, service_url = scratch_database("identity_it", "identity")
    keys = tmp_path_factory.mktemp("jwt")
    write_new_signing_key(keys, "key-20261123.pem")
    settings = IdentitySettings(
        database_url=service_url,
        jwt_keys_dir=keys,
        log_format="console",
        environment="test",
        **test_stack.kafka_admin_settings(),
    )
    await bootstrap_database(settings, admin_url, "identity:migrations")
    return settings


@pytest.fixture(scope="session")
async def identity(identity_settings: IdentitySettings) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(identity_settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            yield client
