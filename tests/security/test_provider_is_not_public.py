"""Item 1 of the hardening issue: the payment provider (psp) is not reachable from outside,
and inside the network it answers only a merchant account's secret key. Before, anyone could
refund a confirmed order's charge, read any order's charges, or pre-create the `order-<id>`
key so that payments read the clash as a decline."""

from __future__ import annotations

import uuid

import httpx

from devstack.attack_log import Attacks
from devstack.shop import Customer, Shop
from devstack.stack import Stack


async def _paid_order(shop: Shop, admin: Customer) -> tuple[str, dict[str, str]]:
    customer = await shop.sign_up("Victim")
    product = await shop.add_product(admin, name="Security test product", stock=5)
    order_id = await shop.place_order(customer, {product["id"]: 1})
    order = await shop.until_final(customer, order_id, timeout_s=60)
    assert order["status"] == "confirmed", order
    [charge] = await shop.charges(order_id)
    return order_id, charge


async def test_the_gateway_serves_nothing_of_the_provider(
    gateway: httpx.AsyncClient, shop: Shop, admin: Customer, attacks: Attacks
) -> None:
    order_id, charge = await _paid_order(shop, admin)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    tries = [
        ("GET", f"/psp/v1/charges?reference={order_id}", None, {}),
        ("GET", f"/psp/v1/charges/{charge['id']}", None, {}),
        ("GET", f"/psp/v1/charges?idempotency_key=order-{order_id}", None, {}),
        ("POST", "/psp/v1/refunds", {"charge_id": charge["id"]}, key),
        (
            "POST",
            "/psp/v1/charges",
            {"amount": 1, "currency": "EUR", "payment_method": "pm_card_declined",
             "reference": "ord_x"},
            {"Idempotency-Key": "order-ord_next"},
        ),
        ("PUT", "/psp/v1/admin/faults", {"outage": True}, key),
        ("GET", "/psp/docs", None, {}),
        ("GET", "/psp/openapi.json", None, {}),
        ("GET", "/psp/readyz", None, {}),
        ("GET", "/psp", None, {}),
    ]  # fmt: skip
    for method, path, body, headers in tries:
        response = await gateway.request(method, path, json=body, headers=headers)
        attacks.tried(f"{method} {path} through the gateway", response)
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "No route matches this path."
    [after] = await shop.charges(order_id)
    assert after["refunded"] is False


async def test_inside_the_network_the_provider_wants_the_merchant_key(
    test_stack: Stack, shop: Shop, admin: Customer, attacks: Attacks
) -> None:
    order_id, charge = await _paid_order(shop, admin)
    psp = test_stack.service("psp").url
    keys = {
        "no key": {},
        "a junk bearer": {"authorization": "Bearer sk_test_" + "0" * 48},
        "an admin's access token": {"authorization": f"Bearer {admin.token}"},
    }
    async with httpx.AsyncClient(base_url=psp, timeout=10, trust_env=False) as direct:
        for what, headers in keys.items():
            key = {"Idempotency-Key": str(uuid.uuid4()), **headers}
            tries = [
                ("POST", "/v1/refunds", {"charge_id": charge["id"]}, key),
                ("GET", f"/v1/charges?reference={order_id}", None, headers),
                ("GET", f"/v1/charges/{charge['id']}", None, headers),
            ]
            for method, path, body, sent in tries:
                response = await direct.request(method, path, json=body, headers=sent)
                attacks.tried(f"{method} psp{path} directly, with {what}", response)
                assert response.status_code == 401, response.text
                assert response.json()["type"] == "urn:flotilla:problem:invalid-api-key"
    [after] = await shop.charges(order_id)
    assert after["refunded"] is False
