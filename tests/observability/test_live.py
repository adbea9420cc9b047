"""The observability stack under a little load: one order is one trace in Jaeger, from the
gateway to the last email, and Prometheus has data for every panel of the platform overview
and of the event pipeline's "Kafka broker" row.

Needs the test stack with its Prometheus and Jaeger (`make test` starts it so; by hand:
`FLOTILLA_OBS=1 python -m devstack up --profile test`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from devstack.profiles import Profile
from devstack.prometheus import NAMESPACE
from devstack.shop import Customer, Shop
from devstack.stack import ADMIN_EMAIL, Stack
from servicekit.testing.events import eventually

SAGA_SERVICES = {"orders", "catalog", "payments", "psp", "notifications"}
# The overview's Grafana variables, as its defaults set them on this stack: all services, the
# one namespace its series carry, and no cluster (the series have no `cluster` label).
_VARIABLES = {"$__rate_interval": "1m", "$job": ".*", "$namespace": NAMESPACE, "$cluster": ""}

Json = dict[str, Any]


@pytest.fixture
async def gateway(stack_profile: Profile) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack_profile.gateway_url, timeout=30) as client:
        yield client


async def _order_in_trace(
    shop: Shop, stack: Stack, gateway_url: str
) -> tuple[Customer, Json, Json, str]:
    """Place one order; returns it once final, with the trace id orders gave its request (the
    gateway drops a caller's traceparent, so the trace is found by the request id instead)."""
    admin = await shop.log_in(ADMIN_EMAIL, stack.admin_password)
    product = await shop.add_product(admin, name=f"Traced {secrets.token_hex(4)}", stock=3)
    customer = await shop.sign_up("Traced shopper")
    request_id = f"traced-{secrets.token_hex(12)}"
    async with httpx.AsyncClient(
        base_url=gateway_url, timeout=30, headers={"x-request-id": request_id}
    ) as traced:
        order_id = await Shop(traced).place_order(customer, {product["id"]: 1})
    [trace_id] = {
        json.loads(line)["trace_id"]
        for line in stack.service("orders").log_file.read_text().splitlines()
        if request_id in line and line.startswith("{")
    }
    return customer, product, await shop.until_final(customer, order_id), trace_id


async def test_one_order_is_one_trace_across_the_saga(
    observed: Stack, gateway: httpx.AsyncClient
) -> None:
    customer, product, order, trace_id = await _order_in_trace(
        Shop(gateway), observed, str(gateway.base_url)
    )
    assert order["status"] == "confirmed"
    found: dict[str, Any] = {}

    async def whole_saga_exported() -> bool:
        response = await gateway.get(f"{observed.jaeger.url}/api/traces/{trace_id}")
        if response.status_code != 200 or not response.json()["data"]:
            return False
        (found["trace"],) = response.json()["data"]
        processes = found["trace"]["processes"]
        services = {processes[span["processID"]]["serviceName"] for span in found["trace"]["spans"]}
        return services >= SAGA_SERVICES

    await eventually(whole_saga_exported, timeout_s=30, what="the order's spans in Jaeger")
    spans = found["trace"]["spans"]
    messaging = [span for span in spans if _tags(span).get("span.kind") in ("producer", "consumer")]
    assert {_tags(span)["messaging.destination.name"] for span in messaging} >= {
        "orders.order",
        "catalog.stock",
        "payments.payment",
    }
    for span in messaging:
        assert _tags(span)["messaging.system"] == "kafka", span["operationName"]
    # No message bodies on spans: nothing carried only by the payloads shows up in any tag.
    for span in spans:
        values = " ".join(str(tag["value"]) for tag in span["tags"])
        assert customer.email not in values, span["operationName"]
        assert product["name"] not in values, span["operationName"]


async def test_prometheus_has_data_for_every_overview_panel(
    observed: Stack, gateway: httpx.AsyncClient, all_dashboards: dict[str, Json]
) -> None:
    await _order_in_trace(Shop(gateway), observed, str(gateway.base_url))
    await _until_every_panel_has_data(
        observed, gateway, all_dashboards["platform-overview.json"]["panels"]
    )


async def test_prometheus_has_data_for_every_kafka_broker_panel(
    observed: Stack, gateway: httpx.AsyncClient, kafka_broker_panels: list[Json]
) -> None:
    """An order's events give the per-topic series (messages and bytes in, bytes out) data."""
    await _order_in_trace(Shop(gateway), observed, str(gateway.base_url))
    await _until_every_panel_has_data(observed, gateway, kafka_broker_panels)


async def _until_every_panel_has_data(
    observed: Stack, gateway: httpx.AsyncClient, panels: list[Json]
) -> None:
    queries = {
        f"{panel['title']} [{target['refId']}]": _substitute(target["expr"])
        for panel in panels
        for target in panel.get("targets", [])
    }
    empty: list[str] = list(queries)

    async def every_panel_has_data() -> bool:
        for title in list(empty):
            response = await gateway.get(
                f"{observed.prometheus.url}/api/v1/query", params={"query": queries[title]}
            )
            response.raise_for_status()
            if response.json()["data"]["result"]:
                empty.remove(title)
        return not empty

    try:
        await eventually(every_panel_has_data, timeout_s=90, what="data for every panel")
    except AssertionError:
        raise AssertionError(f"panels without data: {empty}") from None


def _tags(span: Json) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def _substitute(expr: str) -> str:
    for variable, value in _VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr
