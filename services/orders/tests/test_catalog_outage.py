"""Without catalog no order can be priced: placing one fails fast with a 503 problem that says
when to retry, and nothing is written; reading orders goes on working. (A price orders read in
the last few seconds, within catalog's `max-age`, would still answer from its client's cache:
these products were never read before catalog stopped.)

The stack's catalog is stopped for this module (devstack's Stack API) and started again after
it. The module has an app (and so a catalog circuit breaker) of its own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from servicekit import new_id

Auth = Callable[..., dict[str, str]]

# Well under the request's own timeout (10 s) and the catalog call's deadline (10 s): a
# stopped catalog must not make customers wait.
FAST_S = 2.0


@pytest.fixture(scope="module")
async def stopped_catalog(catalog: Any) -> AsyncIterator[str]:
    """A product catalog had, then catalog stopped; it runs again after the module."""
    product = str(await catalog.add_product())
    service = catalog.stack.service("catalog")
    await asyncio.to_thread(service.stop)
    try:
        yield product
    finally:
        await asyncio.to_thread(service.start)


async def _place(api: httpx.AsyncClient, headers: dict[str, str], product: str) -> httpx.Response:
    return await api.post(
        "/v1/orders",
        json={"items": [{"product_id": product, "quantity": 1}], "payment_method": "pm_card_visa"},
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    )


def _unavailable(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    problem = dict(response.json())
    assert problem["type"] == "urn:flotilla:problem:dependency-unavailable"
    assert problem["dependency"] == "catalog"
    return problem


async def test_with_catalog_stopped_an_order_is_a_fast_503_and_nothing_is_written(
    api: httpx.AsyncClient, auth: Auth, stopped_catalog: str
) -> None:
    user = new_id("usr")
    started = time.monotonic()
    response = await _place(api, auth(user), stopped_catalog)
    elapsed = time.monotonic() - started

    _unavailable(response)
    assert elapsed < FAST_S
    listed = await api.get("/v1/orders", headers=auth(user))
    assert listed.status_code == 200
    assert listed.json()["items"] == []


async def test_once_the_breaker_opens_orders_stop_calling_catalog(
    api: httpx.AsyncClient, auth: Auth, stopped_catalog: str
) -> None:
    headers = auth()
    for _ in range(20):
        problem = _unavailable(await _place(api, headers, stopped_catalog))
        if "suspended" in problem["detail"]:
            break
    else:
        pytest.fail("catalog's breaker never opened")
    started = time.monotonic()
    response = await _place(api, headers, stopped_catalog)
    elapsed = time.monotonic() - started
    assert "suspended" in _unavailable(response)["detail"]
    assert elapsed < FAST_S
