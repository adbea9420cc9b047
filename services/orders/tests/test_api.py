"""orders' HTTP API: placing an order at catalog's prices, reading one's own orders.

orders runs in-process on a database of its own; prices come from the stack's catalog.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from orders.domain import Order
from servicekit import new_id

PlaceOrder = Callable[..., Awaitable[Order]]
Auth = Callable[..., dict[str, str]]


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _order(*lines: tuple[str, int], payment_method: str = "pm_card_visa") -> dict[str, Any]:
    return {
        "items": [{"product_id": product, "quantity": quantity} for product, quantity in lines],
        "payment_method": payment_method,
    }


# -- who may call --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/orders"), ("GET", "/v1/orders"), ("GET", f"/v1/orders/{new_id('ord')}")],
)
async def test_every_route_needs_a_token(api: httpx.AsyncClient, method: str, path: str) -> None:
    body = _order((new_id("prd"), 1)) if method == "POST" else None
    response = await api.request(method, path, json=body, headers=_key())
    problem = _problem(response, 401)
    assert problem["type"] == "urn:flotilla:problem:unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_forged_token_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/orders", headers={"authorization": "Bearer not.a.token"})
    _problem(response, 401)


# -- what may be ordered -------------------------------------------------------------------------

PRODUCT = new_id("prd")


@pytest.mark.parametrize(
    "body",
    [
        {"items": [], "payment_method": "pm_card_visa"},  # no lines
        _order(*((new_id("prd"), 1) for _ in range(51))),  # more than 50
        _order((PRODUCT, 0)),
        _order((PRODUCT, 1001)),
        _order((PRODUCT, -1)),
        {"items": [{"product_id": PRODUCT, "quantity": "2"}], "payment_method": "pm_card_visa"},
        {"items": [{"product_id": PRODUCT, "quantity": 1.5}], "payment_method": "pm_card_visa"},
        _order((PRODUCT, 1), (PRODUCT, 2)),  # the same product on two lines
        _order(("not-a-product", 1)),
        _order((new_id("ord"), 1)),  # an id, but not a product's
        _order((PRODUCT, 1), payment_method=""),
        _order((PRODUCT, 1), payment_method="pm card; drop"),
        {"items": [{"product_id": PRODUCT, "quantity": 1}]},  # no payment method
        {**_order((PRODUCT, 1)), "total_cents": 1},  # no field the API does not know
        {"items": "everything", "payment_method": "pm_card_visa"},
    ],
)
async def test_invalid_orders_are_422_problems(
    api: httpx.AsyncClient, auth: Auth, body: dict[str, Any]
) -> None:
    response = await api.post("/v1/orders", json=body, headers={**auth(), **_key()})
    problem = _problem(response, 422)
    assert problem["type"] == "urn:flotilla:problem:validation-error"


async def test_a_body_that_is_not_json_is_a_400_problem(api: httpx.AsyncClient, auth: Auth) -> None:
    response = await api.post(
        "/v1/orders",
        content=b"{not json",
        headers={**auth(), **_key(), "content-type": "application/json"},
    )
    _problem(response, 400)


# -- reading orders ------------------------------------------------------------------------------


async def test_an_order_is_visible_to_its_owner_only(
    api: httpx.AsyncClient, auth: Auth, place: PlaceOrder
) -> None:
    order = await place()
    mine = await api.get(f"/v1/orders/{order.id}", headers=auth(order.user_id))
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert set(body) == {
        "id",
        "status",
        "items",
        "total_cents",
        "currency",
        "payment_method",
        "reason",
        "created_at",
        "updated_at",
        "deadline_at",
        "history",
    }
    assert (body["id"], body["status"], body["reason"]) == (order.id, "pending", None)
    assert body["items"] == [
        {"product_id": order.lines[0].product_id, "quantity": 2, "unit_price_cents": 1_000}
    ]
    assert (body["total_cents"], body["currency"]) == (2_000, "EUR")
    assert [(h["status"], h["cause"]) for h in body["history"]] == [("pending", "placed")]

    theirs = await api.get(f"/v1/orders/{order.id}", headers=auth())
    assert _problem(theirs, 404)["type"] == "urn:flotilla:problem:order-not-found"
    # The same answer as for an order that does not exist: ids cannot be probed.
    missing = await api.get(f"/v1/orders/{new_id('ord')}", headers=auth(order.user_id))
    assert _problem(missing, 404)["type"] == "urn:flotilla:problem:order-not-found"


async def test_a_user_lists_their_own_orders_newest_first_page_by_page(
    api: httpx.AsyncClient, auth: Auth, place: PlaceOrder
) -> None:
    user = new_id("usr")
    mine = [(await place(user_id=user)).id for _ in range(5)]
    await place()  # someone else's

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await api.get("/v1/orders", params=params, headers=auth(user))
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == mine[::-1]
    assert pages == 3


@pytest.mark.parametrize("params", [{"cursor": "garbage"}, {"cursor": ""}, {"limit": 0}])
async def test_bad_paging_parameters_are_4xx_problems(
    api: httpx.AsyncClient, auth: Auth, params: dict[str, Any]
) -> None:
    response = await api.get("/v1/orders", params=params, headers=auth())
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"


# -- placing orders at catalog's prices ------------------------------------------------------------


async def test_an_order_is_accepted_at_the_catalogs_prices(
    api: httpx.AsyncClient, auth: Auth, catalog: Any, outbox_events: Any
) -> None:
    first = await catalog.add_product(price_cents=1_250)
    second = await catalog.add_product(price_cents=99)
    user = new_id("usr")
    response = await api.post(
        "/v1/orders", json=_order((first, 2), (second, 3)), headers={**auth(user), **_key()}
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "pending"
    assert accepted["id"].startswith("ord_")
    assert response.headers["location"] == f"/v1/orders/{accepted['id']}"

    order = (await api.get(response.headers["location"], headers=auth(user))).json()
    assert order["status"] == "pending"
    assert order["items"] == [
        {"product_id": first, "quantity": 2, "unit_price_cents": 1_250},
        {"product_id": second, "quantity": 3, "unit_price_cents": 99},
    ]
    assert (order["total_cents"], order["currency"]) == (2 * 1_250 + 3 * 99, "EUR")

    [placed] = await outbox_events(accepted["id"])
    assert placed["type"] == "orders.order.placed.v1"
    assert placed["email"] == f"{user}@example.com"
    assert placed["user_id"] == user
    assert placed["payment_method"] == "pm_card_visa"
    assert _instant(placed["deadline_at"]) == _instant(order["deadline_at"])
    assert _instant(placed["placed_at"]) == _instant(order["created_at"])


async def test_an_unknown_product_is_a_422_problem_naming_it(
    api: httpx.AsyncClient, auth: Auth, catalog: Any
) -> None:
    known, unknown = await catalog.add_product(), new_id("prd")
    response = await api.post(
        "/v1/orders", json=_order((known, 1), (unknown, 1)), headers={**auth(), **_key()}
    )
    problem = _problem(response, 422)
    assert problem["type"] == "urn:flotilla:problem:unknown-product"
    assert problem["product_ids"] == [unknown]


async def test_products_in_different_currencies_are_a_422_problem(
    api: httpx.AsyncClient, auth: Auth, catalog: Any
) -> None:
    euros = await catalog.add_product(currency="EUR")
    dollars = await catalog.add_product(currency="USD")
    response = await api.post(
        "/v1/orders", json=_order((euros, 1), (dollars, 1)), headers={**auth(), **_key()}
    )
    problem = _problem(response, 422)
    assert problem["type"] == "urn:flotilla:problem:mixed-currencies"
    assert problem["currencies"] == ["EUR", "USD"]


async def test_a_token_without_an_email_cannot_place_an_order(
    api: httpx.AsyncClient, auth: Auth, catalog: Any
) -> None:
    product = await catalog.add_product()
    response = await api.post(
        "/v1/orders", json=_order((product, 1)), headers={**auth(email=None), **_key()}
    )
    _problem(response, 401)
