from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from catalog.main import build_app
from catalog.settings import CatalogSettings
from devstack.stack import ADMIN_EMAIL, Stack
from servicekit.auth import KeyRing
from servicekit.db import Database, bootstrap_database
from servicekit.testing import bearer as signed_bearer
from servicekit.testing import in_process_client

Headers = Callable[..., dict[str, str]]


@pytest.fixture(scope="session")
async def catalog_settings(
    scratch_database: Callable[[str, str], tuple[str, str]], test_stack: Stack
) -> CatalogSettings:
    admin_url, service_url = scratch_database("catalog_it", "catalog")
    settings = CatalogSettings(
        database_url=service_url,
        jwks_url="http://127.0.0.1:9/.well-known/jwks.json",  # tests install a local verifier
        **test_stack.kafka_admin_settings(),
        # 20 concurrent reservations each hold a connection while they queue on one row.
        db_pool_size=25,
        log_format="console",
        environment="test",
    )
    await bootstrap_database(settings, admin_url, "catalog:migrations")
    return settings


@pytest.fixture(scope="session")
async def database(catalog_settings: CatalogSettings) -> AsyncIterator[Database]:
    database = Database.from_settings(catalog_settings)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def api(
    catalog_settings: CatalogSettings, key_ring: KeyRing
) -> AsyncIterator[httpx.AsyncClient]:
    """catalog's routes in-process, without the lifespan: the routes need only the database,
    and the event consumer must not join the running stack's consumer group."""
    app = build_app(catalog_settings)
    async with in_process_client(app, key_ring, "http://catalog") as client:
        yield client
    await app.state.database.dispose()


@pytest.fixture(scope="session")
def bearer(key_ring: KeyRing) -> Headers:
    """`bearer(roles=["admin"], **token_options)`: an Authorization header for a new user."""

    def headers(roles: tuple[str, ...] = (), **overrides: Any) -> dict[str, str]:
        return signed_bearer(key_ring, roles=roles, **overrides)

    return headers


@pytest.fixture
async def gateway(test_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The running stack's gateway; catalog is under /catalog."""
    async with httpx.AsyncClient(base_url=test_stack.profile.gateway_url, timeout=10) as client:
        yield client


@pytest.fixture
async def stack_admin(test_stack: Stack, gateway: httpx.AsyncClient) -> dict[str, str]:
    """An Authorization header for the stack's administrator (identity's token)."""
    response = await gateway.post(
        "/identity/v1/tokens",
        json={"email": ADMIN_EMAIL, "password": test_stack.admin_password},
    )
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def producer(test_stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    """Publishes to the stack's Kafka as another service's relay would (acks=all)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=test_stack.kafka.bootstrap_servers,
        acks="all",
        **test_stack.kafka.client_options(),
    )
    await producer.start()
    yield producer
    await producer.stop()
