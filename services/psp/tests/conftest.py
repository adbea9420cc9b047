from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from pydantic import SecretStr

from devstack.stack import Stack
from psp.main import build_app
from psp.settings import PspSettings
from servicekit.auth import KeyRing
from servicekit.db import bootstrap_database
from servicekit.testing import bearer, in_process_client

PspFactory = Callable[[], httpx.AsyncClient]

MERCHANT = "acct_flotilla"
OTHER_MERCHANT = "acct_other_shop"
# Test keys of the in-process psp (never of a running stack); random per session.
API_KEYS = {
    MERCHANT: f"sk_test_{secrets.token_hex(16)}",
    OTHER_MERCHANT: f"sk_test_{secrets.token_hex(16)}",
}


def _api_key_header(account: str = MERCHANT) -> dict[str, str]:
    return {"authorization": f"Bearer {API_KEYS[account]}"}


@pytest.fixture(scope="session")
def api_keys() -> dict[str, str]:
    """The secret keys of the in-process psp's accounts, `acct_flotilla` and `acct_other_shop`."""
    return dict(API_KEYS)


@pytest.fixture(scope="session")
async def psp_settings(
    scratch_database: Callable[[str, str], tuple[str, str]], test_stack: Stack
) -> PspSettings:
    admin_url, service_url = scratch_database("psp_it", "psp")
    settings = PspSettings(
        database_url=service_url,
        jwks_url="http://127.0.0.1:9/.well-known/jwks.json",  # tests install a local verifier
        log_format="console",
        environment="test",
        api_keys={account: SecretStr(key) for account, key in API_KEYS.items()},
    )
    await bootstrap_database(settings, admin_url, "psp:migrations")
    return settings


@pytest.fixture(scope="session")
async def replica(psp_settings: PspSettings, key_ring: KeyRing) -> AsyncIterator[PspFactory]:
    """Builds clients of psp replicas: each its own app (and pool) on the one database, calling
    as the merchant account MERCHANT (a request's own Authorization header replaces its key)."""
    apps = []

    def make() -> httpx.AsyncClient:
        app = build_app(psp_settings)
        apps.append(app)
        client = in_process_client(app, key_ring, "http://psp")
        client.headers.update(_api_key_header())
        return client

    yield make
    for app in apps:
        await app.state.database.dispose()


@pytest.fixture(scope="session")
async def psp(replica: PspFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with replica() as client:
        yield client


@pytest.fixture(scope="session")
def admin(key_ring: KeyRing) -> dict[str, str]:
    return bearer(key_ring, roles=["admin"])


@pytest.fixture(scope="session")
def customer(key_ring: KeyRing) -> dict[str, str]:
    return bearer(key_ring, roles=[])


@pytest.fixture
async def faults_off_afterwards(
    psp: httpx.AsyncClient, admin: dict[str, str]
) -> AsyncIterator[None]:
    """Faults are global to the database: every test that turns one on turns them off again."""
    yield
    response = await psp.delete("/v1/admin/faults", headers=admin)
    assert response.status_code == 200, response.text
