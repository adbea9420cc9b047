"""The whole order saga on the running stack, through the gateway: identity's user orders
catalog's product, payments charges the psp, and the order ends confirmed, cancelled (its
stock given back) or rejected."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from devstack.profiles import Profile
from devstack.stack import ADMIN_EMAIL, Stack
from servicekit.testing import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
STOCK = 10


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@pytest.fixture(scope="module")
async def gateway(test_stack: Stack, stack_profile: Profile) -> AsyncIterator[httpx.AsyncClient]:
    missing = {"catalog", "payments", "psp", "orders"} - set(test_stack.service_names)
    if missing:
        pytest.fail(f"the saga needs {', '.join(sorted(missing))} in the stack")
    async with httpx.AsyncClient(base_url=stack_profile.gateway_url, timeout=10) as client:
        yield client


async def _token(gateway: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await gateway.post(
        "/identity/v1/tokens", json={"email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
async def admin(gateway: httpx.AsyncClient, test_stack: Stack) -> dict[str, str]:
    return await _token(gateway, ADMIN_EMAIL, test_stack.admin_password)


@pytest.fixture(scope="module")
async def customer(gateway: httpx.AsyncClient) -> dict[str, str]:
    email = f"shopper-{uuid.uuid4().hex[:10]}@example.com"
    created = await gateway.post(
        "/identity/v1/users",
        json={"email": email, "password": PASSWORD, "name": "Sam"},
        headers=_key(),
    )
    assert created.status_code == 201, created.text
    return await _token(gateway, email, PASSWORD)


async def _product(gateway: httpx.AsyncClient, admin: dict[str, str]) -> str:
    response = await gateway.post(
        "/catalog/v1/products",
        json={
            "sku": f"SAGA-{uuid.uuid4().hex[:12]}",
            "name": "Saga test product",
            "price_cents": 1_500,
            "currency": "EUR",
            "stock": STOCK,
        },
        headers={**admin, **_key()},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _stock(gateway: httpx.AsyncClient, product: str) -> int:
    response = await gateway.get(f"/catalog/v1/products/{product}")
    assert response.status_code == 200, response.text
    return int(response.json()["stock"])


async def _final_order(
    gateway: httpx.AsyncClient,
    customer: dict[str, str],
    product: str,
    quantity: int,
    payment_method: str,
) -> dict[str, Any]:
    placed = await gateway.post(
        "/orders/v1/orders",
        json={
            "items": [{"product_id": product, "quantity": quantity}],
            "payment_method": payment_method,
        },
        headers={**customer, **_key()},
    )
    assert placed.status_code == 202, placed.text
    location = placed.headers["location"]
    assert location == f"/orders/v1/orders/{placed.json()['id']}"
    order: dict[str, Any] = {}

    async def final() -> bool:
        response = await gateway.get(location, headers=customer)
        assert response.status_code == 200, response.text
        order.update(response.json())
        return order["status"] in ("confirmed", "cancelled", "rejected")

    await eventually(final, timeout_s=30, what="the order to reach a final state")
    return order


async def test_a_paid_order_is_confirmed_with_its_stock_taken(
    gateway: httpx.AsyncClient, admin: dict[str, str], customer: dict[str, str]
) -> None:
    product = await _product(gateway, admin)
    order = await _final_order(gateway, customer, product, 3, "pm_card_visa")
    assert order["status"] == "confirmed", order
    assert [entry["status"] for entry in order["history"]] == [
        "pending",
        "awaiting_payment",
        "confirmed",
    ]
    assert order["total_cents"] == 4_500
    assert await _stock(gateway, product) == STOCK - 3
    payments = await gateway.get(
        "/payments/v1/payments", params={"order_id": order["id"]}, headers=customer
    )
    assert payments.status_code == 200, payments.text
    assert [p["status"] for p in payments.json()["items"]] == ["succeeded"]


async def test_a_declined_card_cancels_the_order_and_gives_the_stock_back(
    gateway: httpx.AsyncClient, admin: dict[str, str], customer: dict[str, str]
) -> None:
    product = await _product(gateway, admin)
    order = await _final_order(gateway, customer, product, 2, "pm_card_declined")
    assert (order["status"], order["reason"]) == ("cancelled", "payment_declined"), order

    async def released() -> bool:
        return await _stock(gateway, product) == STOCK

    await eventually(released, timeout_s=30, what="the reservation released")


async def test_more_than_the_stock_is_rejected(
    gateway: httpx.AsyncClient, admin: dict[str, str], customer: dict[str, str]
) -> None:
    product = await _product(gateway, admin)
    order = await _final_order(gateway, customer, product, STOCK + 1, "pm_card_visa")
    assert (order["status"], order["reason"]) == ("rejected", "out_of_stock"), order
    assert await _stock(gateway, product) == STOCK
