"""A storm of mixed orders from many customers at once, with a service killed (SIGKILL) and
restarted in its middle. Afterwards every order is final and the saga's invariants
hold, checked through the services' APIs only:

- each confirmed order has exactly one successful charge (the provider's and payments' word);
- every successful charge belongs to a confirmed order or is refunded (no money is kept for an
  order that ends cancelled);
- per product, stock reserved minus released equals the quantities of confirmed orders, and
  equals what the product's stock went down by;
- no order stayed open past its deadline plus one sweep of orders' sweeper.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.shop import FINAL_STATUSES, Customer, Shop
from servicekit.testing.events import eventually

# About 40 s per victim: `make test` runs it (and `make chaos`, with the longer ones).
pytestmark = pytest.mark.e2e

SWEEP_INTERVAL_S = 5.0  # orders' default `sweep_interval_s`
CLIENTS = 10
ORDERS = 300
RATE_PER_S = 20.0
SCARCE_STOCK = 20
PLENTY_STOCK = 10_000

Json = dict[str, Any]
Crashes = Any  # conftest's Crashes

# What each kind of order asks for, and how it must end (status, reason); a scarce order ends
# confirmed while units are left, then rejected.
KINDS = {
    "ok": ("pm_card_visa", {("confirmed", None)}),
    "declined": ("pm_card_declined", {("cancelled", "payment_declined")}),
    "insufficient_funds": ("pm_card_insufficient_funds", {("cancelled", "insufficient_funds")}),
    "out_of_stock": ("pm_card_visa", {("confirmed", None), ("rejected", "out_of_stock")}),
}
# Ten orders in a row: five paid, one declined, one short of funds, three for the scarce
# product (so 90 compete for its 20 units).
MIX = ["ok"] * 5 + ["declined", "insufficient_funds"] + ["out_of_stock"] * 3


@dataclass
class Placed:
    customer: Customer
    kind: str
    lines: dict[str, int]
    order_id: str = ""


@pytest.mark.parametrize("victim", ["payments", "catalog"])
async def test_a_storm_of_mixed_orders_survives_a_killed_service(
    victim: str, shop: Shop, admin: Customer, crashes: Crashes
) -> None:
    plenty = await shop.add_product(admin, name="Storm mug", stock=PLENTY_STOCK, price_cents=1_200)
    scarce = await shop.add_product(admin, name="Storm rarity", stock=SCARCE_STOCK)
    customers = await asyncio.gather(*(shop.sign_up(f"Storm {n}") for n in range(CLIENTS)))
    plan = [
        Placed(
            customers[n % CLIENTS],
            MIX[n % len(MIX)],
            {scarce["id"]: 1} if MIX[n % len(MIX)] == "out_of_stock" else {plenty["id"]: 1 + n % 3},
        )
        for n in range(ORDERS)
    ]

    await _storm(shop, plan, crashes, victim)
    orders = await _all_final(shop, customers)

    assert sorted(orders) == sorted(p.order_id for p in plan), "an order is missing or extra"
    outcomes = Counter((p.kind, orders[p.order_id]["status"]) for p in plan)
    for placed in plan:
        order = orders[placed.order_id]
        assert (order["status"], order["reason"]) in KINDS[placed.kind][1], (placed.kind, order)
        _closed_in_time(order)
    confirmed_scarce = outcomes["out_of_stock", "confirmed"]
    assert confirmed_scarce == SCARCE_STOCK, outcomes

    reserved = await _check_each_order(shop, admin, plan, orders)
    for product, initial in ((plenty, PLENTY_STOCK), (scarce, SCARCE_STOCK)):
        bought = sum(
            p.lines.get(product["id"], 0)
            for p in plan
            if orders[p.order_id]["status"] == "confirmed"
        )
        assert reserved[product["id"]] == bought
        assert (await shop.product(product["id"]))["stock"] == initial - bought


async def _storm(shop: Shop, plan: list[Placed], crashes: Crashes, victim: str) -> None:
    """Place every order at RATE_PER_S (open loop: a slow answer does not delay the next
    order); kill the victim once half of them were accepted, and start it again at once."""
    half_placed = asyncio.Event()
    accepted = 0
    started = time.monotonic()

    async def place(index: int, placed: Placed) -> None:
        nonlocal accepted
        await asyncio.sleep(max(0.0, started + index / RATE_PER_S - time.monotonic()))
        payment_method = KINDS[placed.kind][0]
        placed.order_id = await shop.place_order(placed.customer, placed.lines, payment_method)
        accepted += 1
        if accepted == len(plan) // 2:
            half_placed.set()

    async def kill_and_restart() -> None:
        await half_placed.wait()
        await crashes.kill(victim)
        await crashes.start(victim)

    await asyncio.gather(kill_and_restart(), *(place(n, p) for n, p in enumerate(plan)))


async def _all_final(shop: Shop, customers: list[Customer]) -> dict[str, Json]:
    """Every order of the customers, once all are final; waits at most until the last
    deadline plus one sweep (and a little for the reads)."""
    found: dict[str, Json] = {}

    async def final() -> bool:
        for customer in customers:
            found.update({o["id"]: o for o in await shop.orders(customer)})
        return all(order["status"] in FINAL_STATUSES for order in found.values())

    await final()
    last_deadline = max(datetime.fromisoformat(o["deadline_at"]) for o in found.values())
    wait_s = (last_deadline - datetime.now(UTC)).total_seconds() + SWEEP_INTERVAL_S + 10
    await eventually(final, timeout_s=max(wait_s, 10), what="every order to be final")
    return found


def _closed_in_time(order: Json) -> None:
    closed_at = datetime.fromisoformat(order["history"][-1]["at"])
    deadline = datetime.fromisoformat(order["deadline_at"])
    assert closed_at <= deadline + timedelta(seconds=SWEEP_INTERVAL_S), order


async def _check_each_order(
    shop: Shop, admin: Customer, plan: list[Placed], orders: dict[str, Json]
) -> Counter[str]:
    """Charges, payments and reservations of every order agree with its outcome; returns the
    units still reserved (reserved minus released) per product."""
    held: Counter[str] = Counter()
    reads = asyncio.Semaphore(8)

    async def check(placed: Placed) -> None:
        order = orders[placed.order_id]
        reservations: list[Json] = []

        async def settled() -> bool:
            # A cancelled order's stock is released after it is cancelled (compensation).
            async with reads:
                reservations[:] = await shop.reservations(admin, order["id"])
            return order["status"] != "cancelled" or all(
                r["status"] == "released" for r in reservations
            )

        await eventually(settled, timeout_s=30, what=f"{order['id']}'s stock released")
        charges: list[Json] = []

        async def refunded() -> bool:
            # A cancelled order's charge, if any, is refunded after it is cancelled.
            async with reads:
                charges[:] = await shop.charges(order["id"])
            return order["status"] == "confirmed" or all(
                c["refunded"] for c in charges if c["status"] == "succeeded"
            )

        await eventually(refunded, timeout_s=30, what=f"{order['id']}'s charge refunded")
        async with reads:
            payments = await shop.payments(admin, order["id"])
        succeeded = [c for c in charges if c["status"] == "succeeded"]
        lines = [{"product_id": p, "quantity": q} for p, q in placed.lines.items()]
        if order["status"] == "confirmed":
            assert len(succeeded) == 1, (order, charges)
            assert not succeeded[0]["refunded"], (order, charges)
            assert [(p["status"], p["charge_id"]) for p in payments] == [
                ("succeeded", succeeded[0]["id"])
            ], (order, payments)
            assert [(r["status"], r["items"]) for r in reservations] == [("reserved", lines)]
        else:
            assert all(c["refunded"] for c in succeeded), (order, charges)
        if order["status"] == "rejected":
            assert (charges, payments, reservations) == ([], [], []), order
        for reservation in reservations:
            if reservation["status"] == "reserved":
                held.update({i["product_id"]: i["quantity"] for i in reservation["items"]})

    await asyncio.gather(*(check(p) for p in plan))
    return held
