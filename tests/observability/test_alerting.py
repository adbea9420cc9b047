"""Break something on purpose, and the running Prometheus pages: the payment provider goes
down, payments' circuit breaker to it opens, and `FlotillaCircuitBreakerOpen` fires — the rule
file the Helm chart ships, evaluated on the stack's own scrapes, with its runbook attached.

The alert asks for a breaker open for 2 minutes, then 1 more (`for: 1m`), so this test takes
about three and a half minutes. It then lifts the outage and checks the shop recovers, as the
runbook's last step does.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from devstack.provider_keys import provider_client
from devstack.shop import Customer, Shop
from devstack.stack import ADMIN_EMAIL, Stack
from servicekit.testing.events import eventually

Json = dict[str, Any]

ALERT = "FlotillaCircuitBreakerOpen"
BREAKER_OPEN_S = 120 + 60  # the rule's 2-minute window and its `for: 1m`
ORDERS_DURING_OUTAGE = 4  # with in-place retries, enough calls (10 in 30 s) to open the breaker


@pytest.fixture
async def shop(test_stack: Stack) -> AsyncIterator[Shop]:
    async with (
        httpx.AsyncClient(base_url=test_stack.profile.gateway_url, timeout=30) as client,
        provider_client(test_stack, timeout=30) as provider,
    ):
        yield Shop(client, provider=provider)


@pytest.fixture
async def admin(shop: Shop, test_stack: Stack) -> Customer:
    return await shop.log_in(ADMIN_EMAIL, test_stack.admin_password)


@pytest.fixture
async def psp_outage(shop: Shop, admin: Customer) -> AsyncIterator[None]:
    await shop.set_psp_faults(admin, outage=True)
    try:
        yield
    finally:
        await shop.set_psp_faults(admin)


async def test_a_provider_outage_pages_with_the_breaker_alert_and_the_shop_recovers(
    observed: Stack, shop: Shop, admin: Customer, psp_outage: None
) -> None:
    started = time.time()
    customer = await shop.sign_up("Outage shopper")
    product = await shop.add_product(admin, name="Alerting test product", stock=10)
    await asyncio.gather(
        *(
            shop.place_order(customer, {product["id"]: 1}, "pm_card_visa")
            for _ in range(ORDERS_DURING_OUTAGE)
        )
    )
    firing: list[Json] = []

    async def paged() -> bool:
        firing[:] = [
            alert
            for alert in await _alerts(observed)
            if alert["labels"]["alertname"] == ALERT
            and alert["state"] == "firing"
            and _since(alert) >= started
        ]
        return bool(firing)

    await eventually(paged, timeout_s=BREAKER_OPEN_S + 90, what=f"{ALERT} firing")
    [alert] = firing
    assert (
        alert["labels"] | {"job": "payments", "name": "psp", "severity": "page"} == alert["labels"]
    )
    assert alert["annotations"]["runbook_url"] == f"docs/runbooks/{ALERT}.md"
    assert alert["annotations"]["summary"] == "payments's circuit breaker to psp stays open"

    await shop.set_psp_faults(admin)
    order_id = await shop.place_order(customer, {product["id"]: 1}, "pm_card_visa")
    order = await shop.until_final(customer, order_id, timeout_s=90)
    assert order["status"] == "confirmed"


async def _alerts(stack: Stack) -> list[Json]:
    async with httpx.AsyncClient(base_url=stack.prometheus.url, timeout=10) as prometheus:
        response = await prometheus.get("/api/v1/alerts")
        response.raise_for_status()
        alerts: list[Json] = response.json()["data"]["alerts"]
        return alerts


def _since(alert: Json) -> float:
    """When the alert became active, in Unix seconds (Prometheus gives RFC 3339 with up to
    nanoseconds, Python reads up to microseconds)."""
    active_at = re.sub(r"(\.\d{6})\d+", r"\1", alert["activeAt"]).replace("Z", "+00:00")
    return datetime.fromisoformat(active_at).timestamp()
