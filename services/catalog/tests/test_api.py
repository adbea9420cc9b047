"""The catalog API: admins write products, anyone reads them (cacheably), admins see
reservations. Every failure is a problem+json."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from servicekit import encode_cursor, is_id, new_id

Headers = Callable[..., dict[str, str]]
ADMIN = ("admin",)


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def _new_product(**overrides: Any) -> dict[str, Any]:
    return {
        "sku": f"SKU-{uuid.uuid4().hex[:12]}",
        "name": "Blue mug",
        "price_cents": 1290,
        "currency": "EUR",
        "stock": 5,
        **overrides,
    }


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


async def _create(api: httpx.AsyncClient, bearer: Headers, **overrides: Any) -> dict[str, Any]:
    response = await api.post(
        "/v1/products", json=_new_product(**overrides), headers={**bearer(ADMIN), **_key()}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_an_admin_adds_a_product_that_anyone_can_read(
    api: httpx.AsyncClient, bearer: Headers
) -> None:
    body = _new_product(name="  Green mug  ")
    created = await api.post("/v1/products", json=body, headers={**bearer(ADMIN), **_key()})
    assert created.status_code == 201, created.text
    product = created.json()
    assert set(product) == {
        "id",
        "sku",
        "name",
        "price_cents",
        "currency",
        "stock",
        "created_at",
        "updated_at",
    }
    assert is_id(product["id"], "prd")
    assert (product["sku"], product["name"], product["price_cents"]) == (
        body["sku"],
        "Green mug",
        1290,
    )
    assert (product["currency"], product["stock"]) == ("EUR", 5)

    read = await api.get(f"/v1/products/{product['id']}")  # no token: public
    assert read.status_code == 200
    assert read.json() == product


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/products"), ("PATCH", f"/v1/products/{new_id('prd')}")],
)
async def test_writes_need_a_token_with_the_admin_role(
    api: httpx.AsyncClient, bearer: Headers, method: str, path: str
) -> None:
    body = _new_product() if method == "POST" else {"stock_adjustment": 1}
    anonymous = await api.request(method, path, json=body, headers=_key())
    _problem(anonymous, 401)
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    customer = await api.request(method, path, json=body, headers={**bearer(), **_key()})
    assert _problem(customer, 403)["type"] == "urn:flotilla:problem:forbidden"


async def test_reservations_are_for_admins_only(api: httpx.AsyncClient, bearer: Headers) -> None:
    params = {"order_id": new_id("ord")}
    _problem(await api.get("/v1/reservations", params=params), 401)
    _problem(await api.get("/v1/reservations", params=params, headers=bearer()), 403)
    response = await api.get("/v1/reservations", params=params, headers=bearer(ADMIN))
    assert response.json() == {"items": []}


@pytest.mark.parametrize(
    "change",
    [
        {"sku": ""},
        {"sku": "has space"},
        {"sku": "x" * 65},
        {"name": ""},
        {"name": "n" * 201},
        {"price_cents": -1},
        {"price_cents": 12.5},
        {"currency": "eur"},
        {"currency": "EURO"},
        {"stock": -1},
        {"stock": "many"},
        {"colour": "blue"},
    ],
)
async def test_an_invalid_product_is_a_422_problem(
    api: httpx.AsyncClient, bearer: Headers, change: dict[str, Any]
) -> None:
    response = await api.post(
        "/v1/products", json=_new_product(**change), headers={**bearer(ADMIN), **_key()}
    )
    assert _problem(response, 422)["type"] == "urn:flotilla:problem:validation-error"


async def test_a_duplicate_sku_is_a_409_problem(api: httpx.AsyncClient, bearer: Headers) -> None:
    first = await _create(api, bearer)
    again = await api.post(
        "/v1/products",
        json=_new_product(sku=first["sku"], name="Another"),
        headers={**bearer(ADMIN), **_key()},
    )
    assert _problem(again, 409)["type"] == "urn:flotilla:problem:sku-taken"


async def test_patch_changes_the_price_and_adjusts_the_stock(
    api: httpx.AsyncClient, bearer: Headers
) -> None:
    product = await _create(api, bearer, stock=5)
    path = f"/v1/products/{product['id']}"
    admin = bearer(ADMIN)

    priced = await api.patch(path, json={"price_cents": 990}, headers={**admin, **_key()})
    assert priced.status_code == 200, priced.text
    assert (priced.json()["price_cents"], priced.json()["stock"]) == (990, 5)

    more = await api.patch(path, json={"stock_adjustment": 3}, headers={**admin, **_key()})
    assert more.json()["stock"] == 8
    less = await api.patch(
        path, json={"stock_adjustment": -8, "price_cents": 1000}, headers={**admin, **_key()}
    )
    assert (less.json()["stock"], less.json()["price_cents"]) == (0, 1000)
    assert less.json()["updated_at"] > product["updated_at"]


async def test_patch_below_zero_stock_is_a_409_problem_and_changes_nothing(
    api: httpx.AsyncClient, bearer: Headers
) -> None:
    product = await _create(api, bearer, stock=2)
    path = f"/v1/products/{product['id']}"
    response = await api.patch(
        path, json={"stock_adjustment": -3, "price_cents": 1}, headers={**bearer(ADMIN), **_key()}
    )
    assert _problem(response, 409)["type"] == "urn:flotilla:problem:insufficient-stock"
    unchanged = (await api.get(path)).json()
    assert (unchanged["stock"], unchanged["price_cents"]) == (2, product["price_cents"])


@pytest.mark.parametrize(
    "body",
    [{}, {"stock_adjustment": 1.5}, {"price_cents": -5}, {"stock": 3}, {"sku": "NEW"}],
)
async def test_an_invalid_patch_is_a_422_problem(
    api: httpx.AsyncClient, bearer: Headers, body: dict[str, Any]
) -> None:
    product = await _create(api, bearer)
    response = await api.patch(
        f"/v1/products/{product['id']}", json=body, headers={**bearer(ADMIN), **_key()}
    )
    _problem(response, 422)


@pytest.mark.parametrize("product_id", [new_id("prd"), new_id("usr"), "nonsense"])
async def test_an_unknown_product_is_a_404_problem(
    api: httpx.AsyncClient, bearer: Headers, product_id: str
) -> None:
    read = await api.get(f"/v1/products/{product_id}")
    assert _problem(read, 404)["type"] == "urn:flotilla:problem:product-not-found"
    patched = await api.patch(
        f"/v1/products/{product_id}",
        json={"stock_adjustment": 1},
        headers={**bearer(ADMIN), **_key()},
    )
    _problem(patched, 404)


async def test_a_product_read_carries_an_etag_and_answers_304_while_it_is_current(
    api: httpx.AsyncClient, bearer: Headers
) -> None:
    product = await _create(api, bearer)
    path = f"/v1/products/{product['id']}"
    first = await api.get(path)
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert first.headers["cache-control"] == "public, max-age=5"

    for if_none_match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = await api.get(path, headers={"if-none-match": if_none_match})
        assert cached.status_code == 304, if_none_match
        assert cached.content == b""
        assert cached.headers["etag"] == etag
    assert (await api.get(path, headers={"if-none-match": '"other"'})).status_code == 200

    await api.patch(path, json={"stock_adjustment": -1}, headers={**bearer(ADMIN), **_key()})
    changed = await api.get(path, headers={"if-none-match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["stock"] == product["stock"] - 1


async def test_the_product_list_pages_to_the_end_and_is_cacheable(
    api: httpx.AsyncClient, bearer: Headers
) -> None:
    created = [(await _create(api, bearer))["id"] for _ in range(3)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await api.get("/v1/products", params=params)
        assert response.status_code == 200
        assert "etag" in response.headers
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen)  # oldest first, each product once
    assert seen[-3:] == created

    last_page = {"limit": "2", "cursor": params["cursor"]}
    again = await api.get(
        "/v1/products", params=last_page, headers={"if-none-match": response.headers["etag"]}
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": "0"}, 422),
        ({"limit": "101"}, 422),
        ({"cursor": "not a cursor !"}, 400),
        ({"cursor": encode_cursor(new_id("usr"))}, 400),
    ],
)
async def test_bad_list_parameters_are_problems(
    api: httpx.AsyncClient, params: dict[str, str], status: int
) -> None:
    _problem(await api.get("/v1/products", params=params), status)
