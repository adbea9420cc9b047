"""GET /v1/payments?order_id=: an order's payments, for its owner or an admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from payments.domain import Payment
from payments.main import build_app
from payments.repository import PaymentRepository
from payments.settings import PaymentsSettings
from servicekit import new_id
from servicekit.auth import KeyRing
from servicekit.db import Database
from servicekit.testing import bearer, in_process_client


@pytest.fixture(scope="module")
async def api(
    payments_settings: PaymentsSettings, key_ring: KeyRing
) -> AsyncIterator[httpx.AsyncClient]:
    # Without the lifespan: the route needs only the database, and the event consumer must not
    # join the running stack's consumer group.
    app = build_app(payments_settings)
    async with in_process_client(app, key_ring, "http://payments") as client:
        yield client
    await app.state.database.dispose()


def _auth(ring: KeyRing, user_id: str, roles: tuple[str, ...] = ()) -> dict[str, str]:
    return bearer(ring, subject=user_id, roles=roles)


async def _settled_payment(database: Database, user_id: str) -> Payment:
    async with database.transaction() as session:
        repository = PaymentRepository(session)
        pending, _ = await repository.add_once(
            Payment.pending(
                order_id=new_id("ord"),
                user_id=user_id,
                amount_cents=1999,
                currency="EUR",
                payment_method="pm_card_visa",
                at=datetime.now(UTC),
            )
        )
        return await repository.mark_succeeded(pending.id, charge_id=new_id("ch"), attempts=2)


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


async def test_the_owner_sees_the_orders_payment(
    api: httpx.AsyncClient, database: Database, key_ring: KeyRing
) -> None:
    owner = new_id("usr")
    payment = await _settled_payment(database, owner)

    response = await api.get(
        "/v1/payments", params={"order_id": payment.order_id}, headers=_auth(key_ring, owner)
    )

    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert item == {
        "id": payment.id,
        "order_id": payment.order_id,
        "user_id": owner,
        "amount_cents": 1999,
        "currency": "EUR",
        "status": "succeeded",
        "reason": None,
        "charge_id": payment.charge_id,
        "attempts": 2,
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
        "refund_status": None,
        "refund_id": None,
        "refunded_at": None,
    }
    assert datetime.fromisoformat(item["updated_at"]) == payment.updated_at


async def test_another_user_sees_none_of_it(
    api: httpx.AsyncClient, database: Database, key_ring: KeyRing
) -> None:
    payment = await _settled_payment(database, new_id("usr"))
    response = await api.get(
        "/v1/payments",
        params={"order_id": payment.order_id},
        headers=_auth(key_ring, new_id("usr")),
    )
    assert response.json() == {"items": []}


async def test_an_admin_sees_anyones(
    api: httpx.AsyncClient, database: Database, key_ring: KeyRing
) -> None:
    payment = await _settled_payment(database, new_id("usr"))
    response = await api.get(
        "/v1/payments",
        params={"order_id": payment.order_id},
        headers=_auth(key_ring, new_id("usr"), roles=("admin",)),
    )
    assert [item["id"] for item in response.json()["items"]] == [payment.id]


async def test_an_order_without_payments_has_none(
    api: httpx.AsyncClient, key_ring: KeyRing
) -> None:
    response = await api.get(
        "/v1/payments", params={"order_id": new_id("ord")}, headers=_auth(key_ring, new_id("usr"))
    )
    assert response.json() == {"items": []}


@pytest.mark.parametrize("params", [{}, {"order_id": ""}, {"order_id": "o" * 201}])
async def test_a_missing_or_invalid_order_id_is_a_422_problem(
    api: httpx.AsyncClient, key_ring: KeyRing, params: dict[str, str]
) -> None:
    response = await api.get("/v1/payments", params=params, headers=_auth(key_ring, new_id("usr")))
    _problem(response, 422)


@pytest.mark.parametrize("authorization", [None, "Bearer not.a.token", "Basic dXNlcjpwYXNz"])
async def test_no_or_a_bad_token_is_a_401_problem(
    api: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    response = await api.get("/v1/payments", params={"order_id": new_id("ord")}, headers=headers)
    _problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
