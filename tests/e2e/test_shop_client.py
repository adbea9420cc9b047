"""The Shop calls the services with their generated clients (`clients.<service>`), through the
httpx client it is given: that client's base URL (the gateway, each service under its prefix)
and its default headers hold for every call."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from devstack.profiles import Profile
from devstack.shop import Customer, Shop
from devstack.stack import Stack
from servicekit.testing.events import eventually

pytestmark = pytest.mark.e2e

Json = dict[str, Any]


async def test_the_shop_sends_through_the_client_it_is_given(
    customer: Customer,
    new_product: Callable[..., Awaitable[Json]],
    test_stack: Stack,
    stack_profile: Profile,
) -> None:
    product = await new_product(stock=1)
    request_id = f"shop-client-{secrets.token_hex(8)}"
    async with httpx.AsyncClient(
        base_url=stack_profile.gateway_url, timeout=10, headers={"x-request-id": request_id}
    ) as traced:
        order_id = await Shop(traced).place_order(customer, {product["id"]: 1})
    logged: list[Json] = []

    async def orders_logged_the_request() -> bool:
        logged[:] = [
            json.loads(line)
            for line in test_stack.service("orders").log_file.read_text().splitlines()
            if request_id in line and line.startswith("{")
        ]
        return bool(logged)

    await eventually(orders_logged_the_request, timeout_s=10, what="orders' access log line")
    assert [entry["message"] for entry in logged if entry["logger"] == "servicekit.access"] == [
        "POST /v1/orders 202"
    ]
    assert order_id.startswith("ord_")
