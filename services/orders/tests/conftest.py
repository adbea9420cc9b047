from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from devstack.stack import ADMIN_EMAIL, Stack
from orders.domain import Order, ProductPrice, RequestedLine
from orders.handlers import place_order
from orders.main import build_app
from orders.settings import OrdersSettings
from servicekit import new_id
from servicekit.auth import KeyRing
from servicekit.db import Database, bootstrap_database
from servicekit.events import OUTBOX, Outbox
from servicekit.http import DownstreamPolicy
from servicekit.testing import bearer, in_process_client

# Nothing listens there: a catalog that is not running.
_NO_CATALOG = "http://127.0.0.1:9"


def catalog_url(stack: Stack) -> str:
    return stack.service("catalog").url if "catalog" in stack.service_names else _NO_CATALOG


@pytest.fixture(scope="session")
async def orders_settings(
    scratch_database: Callable[[str, str], tuple[str, str]], test_stack: Stack
) -> OrdersSettings:
    """An orders database of the tests' own, the stack's Kafka, and the stack's catalog."""
    admin_url, service_url = scratch_database("orders_it", "orders")
    settings = OrdersSettings(
        database_url=service_url,
        jwks_url="http://127.0.0.1:9/.well-known/jwks.json",  # tests install a local verifier
        **test_stack.kafka_admin_settings(),
        downstreams={"catalog": DownstreamPolicy(base_url=catalog_url(test_stack))},
        log_format="console",
        environment="test",
    )
    await bootstrap_database(settings, admin_url, "orders:migrations")
    return settings


@pytest.fixture(scope="session")
async def database(orders_settings: OrdersSettings) -> AsyncIterator[Database]:
    database = Database.from_settings(orders_settings)
    yield database
    await database.dispose()


@pytest.fixture(scope="module")
async def api(
    orders_settings: OrdersSettings, key_ring: KeyRing
) -> AsyncIterator[httpx.AsyncClient]:
    """orders in-process, one app (and so one catalog breaker) per test module. Without the
    lifespan: its consumer must not join the running stack's `orders` group, nor its relay
    publish test orders to the stack's services; tests run consumers and the sweeper
    themselves."""
    app = build_app(orders_settings)
    async with in_process_client(app, key_ring, "http://orders") as client:
        yield client
    await app.state.catalog.aclose()
    await app.state.database.dispose()


Auth = Callable[..., dict[str, str]]


@pytest.fixture(scope="session")
def auth(key_ring: KeyRing) -> Auth:
    """`auth(user_id)`: headers carrying a token for that user, as identity issues them."""

    def headers(user_id: str | None = None, **claims: Any) -> dict[str, str]:
        subject = user_id or new_id("usr")
        return bearer(
            key_ring, subject=subject, extra_claims={"email": f"{subject}@example.com", **claims}
        )

    return headers


class FixedPrices:
    """A catalog where every product exists and costs 10.00 EUR: for tests of what happens
    after an order is placed, which must not depend on the stack's catalog."""

    async def prices(self, product_ids: Sequence[str]) -> Mapping[str, ProductPrice | None]:
        return {product_id: ProductPrice(product_id, 1_000, "EUR") for product_id in product_ids}


PlaceOrder = Callable[..., Awaitable[Order]]


@pytest.fixture(scope="session")
def place(database: Database) -> PlaceOrder:
    """`await place(deadline_s=...)`: a new PENDING order of a new user (2 units at 10.00 EUR),
    placed by the handler the API calls, committed."""

    async def place_one(*, deadline_s: float = 120.0, user_id: str | None = None) -> Order:
        user = user_id or new_id("usr")
        async with database.transaction() as session:
            return await place_order(
                session,
                Outbox("orders"),
                FixedPrices(),
                user_id=user,
                email=f"{user}@example.com",
                lines=[RequestedLine(new_id("prd"), 2)],
                payment_method="pm_card_visa",
                deadline_s=deadline_s,
            )

    return place_one


@pytest.fixture(scope="session")
def outbox_events(database: Database) -> Callable[[str], Awaitable[list[dict[str, Any]]]]:
    """`await outbox_events(order_id)`: the events orders appended for that order, oldest
    first, each as its type plus its payload."""

    async def read(order_id: str) -> list[dict[str, Any]]:
        async with database.transaction() as session:
            rows = await session.execute(
                select(OUTBOX.c.event_type, OUTBOX.c.payload)
                .where(OUTBOX.c.key == order_id)
                .order_by(OUTBOX.c.id)
            )
            return [{"type": row.event_type, **json.loads(row.payload)} for row in rows]

    return read


@dataclass(frozen=True)
class Catalog:
    """The stack's catalog, as its administrator sees it."""

    client: httpx.AsyncClient
    stack: Stack

    async def add_product(self, price_cents: int = 1_250, currency: str = "EUR") -> str:
        response = await self.client.post(
            "/v1/products",
            json={
                "sku": f"SKU-{uuid.uuid4().hex[:12]}",
                "name": "Test product",
                "price_cents": price_cents,
                "currency": currency,
                "stock": 100,
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


@pytest.fixture(scope="session")
async def catalog(test_stack: Stack) -> AsyncIterator[Catalog]:
    if "catalog" not in test_stack.service_names:
        pytest.fail("these tests need catalog in deploy/routes.yaml and running in the stack")
    identity = test_stack.service("identity").url
    async with httpx.AsyncClient(base_url=identity, timeout=10) as client:
        response = await client.post(
            "/v1/tokens", json={"email": ADMIN_EMAIL, "password": test_stack.admin_password}
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
    async with httpx.AsyncClient(
        base_url=test_stack.service("catalog").url,
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    ) as client:
        yield Catalog(client, test_stack)
