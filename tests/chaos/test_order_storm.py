"""A storm of mixed orders from many customers at once, with a service killed (SIGKILL) and
restarted in its middle, or Postgres or Kafka taken away for a while (killed and restarted,
or frozen and continued). Afterwards every order is final and the platform's invariants hold,
checked through the services' APIs, the dead-letter topics and the mailbox only:

- each confirmed order has exactly one successful charge (the provider's and payments' word);
- every successful charge belongs to a confirmed order or is refunded (no money is kept for an
  order that ends cancelled);
- per product, stock reserved minus released equals the quantities of confirmed orders, and
  equals what the product's stock went down by;
- no order stayed open past its deadline plus one sweep of orders' sweeper;
- after an outage of Postgres or Kafka, also: no record in any dead-letter topic (an outage
  pauses consumers, it fails no event), and one email per order, none twice. Each such test
  prints how long the backlog took to drain once the dependency was back.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.profiles import Profile
from devstack.shop import FINAL_STATUSES, Customer, Shop
from devstack.smtp_sink import read_messages
from servicekit.testing.events import eventually

# About 40 s per victim, and per short outage: `make test` runs them (and `make chaos`, with
# the longer outages).
pytestmark = pytest.mark.e2e

SWEEP_INTERVAL_S = 5.0  # orders' default `sweep_interval_s`
CLIENTS = 10
ORDERS = 300
RATE_PER_S = 20.0
SCARCE_STOCK = 20
PLENTY_STOCK = 10_000

Json = dict[str, Any]
Crashes = Any  # conftest's Crashes
Outages = Any  # conftest's Outages
DeadLetterCount = Callable[[], Awaitable[dict[str, int]]]
Fault = Callable[[], Awaitable[float | None]]

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
    async def kill_and_restart() -> None:
        await crashes.kill(victim)
        await crashes.start(victim)

    plan, products = await _prepare(shop, admin)
    await _storm(shop, plan, kill_and_restart)
    orders = await _all_final(shop, plan)
    await _check_invariants(shop, admin, plan, orders, products)


# (how, seconds away): `Outages.<how>(seconds)`.
OUTAGES = {
    "postgres-killed-60s": ("kill_postgres", 60.0),
    "kafka-killed-60s": ("kill_kafka", 60.0),
    "postgres-frozen-30s": ("freeze_postgres", 30.0),
    "kafka-killed-10s": ("kill_kafka", 10.0),
}


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param("postgres-killed-60s", marks=pytest.mark.chaos),
        pytest.param("kafka-killed-60s", marks=pytest.mark.chaos),
        pytest.param("postgres-frozen-30s", marks=pytest.mark.chaos),
        "kafka-killed-10s",
    ],
)
async def test_a_storm_of_mixed_orders_survives_an_outage_of(
    outage: str,
    shop: Shop,
    admin: Customer,
    outages: Outages,
    dead_letters: DeadLetterCount,
    stack_profile: Profile,
    capsys: pytest.CaptureFixture[str],
) -> None:
    how, down_s = OUTAGES[outage]
    shop.patience_s = down_s + 90  # clients ride out the outage and the restart, then retry
    dead_before = await dead_letters()
    mail_before = len(read_messages(stack_profile.mail))

    async def take_away() -> float:
        back: float = await getattr(outages, how)(down_s)
        return back

    plan, products = await _prepare(shop, admin)
    back = await _storm(shop, plan, take_away)
    assert back is not None
    orders = await _all_final(shop, plan)
    all_final_s = time.monotonic() - back
    await _check_invariants(shop, admin, plan, orders, products)

    async def one_email_per_order() -> bool:
        per_order = _emails_per_order(stack_profile, mail_before, plan)
        assert max(per_order.values()) <= 1, "an order's email was sent twice"
        return min(per_order.values()) == 1

    await eventually(one_email_per_order, timeout_s=60, what="an email for every order")
    emailed_s = time.monotonic() - back
    ids = [m["Message-ID"] for m in read_messages(stack_profile.mail)[mail_before:]]
    assert len(ids) == len(set(ids)), "a message was delivered twice"
    assert await dead_letters() == dead_before, "an outage dead-lettered events"
    with capsys.disabled():
        print(
            f"\n[recovery] {outage}: {len(plan)} orders; from the dependency's return to every "
            f"order final {all_final_s:.1f} s, to every email sent {emailed_s:.1f} s"
        )


def _emails_per_order(profile: Profile, skip: int, plan: list[Placed]) -> Counter[str]:
    """How many emails name each order of `plan` in their subject (mail since `skip`)."""
    count: Counter[str] = Counter({p.order_id: 0 for p in plan})
    for message in read_messages(profile.mail)[skip:]:
        for word in str(message["Subject"]).split():
            if word in count:
                count[word] += 1
    return count


@dataclass(frozen=True)
class Products:
    plenty: Json
    scarce: Json


async def _prepare(shop: Shop, admin: Customer) -> tuple[list[Placed], Products]:
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
    return plan, Products(plenty, scarce)


async def _check_invariants(
    shop: Shop, admin: Customer, plan: list[Placed], orders: dict[str, Json], products: Products
) -> None:
    assert sorted(orders) == sorted(p.order_id for p in plan), "an order is missing or extra"
    outcomes = Counter((p.kind, orders[p.order_id]["status"]) for p in plan)
    for placed in plan:
        order = orders[placed.order_id]
        assert (order["status"], order["reason"]) in KINDS[placed.kind][1], (placed.kind, order)
        _closed_in_time(order)
    confirmed_scarce = outcomes["out_of_stock", "confirmed"]
    assert confirmed_scarce == SCARCE_STOCK, outcomes

    reserved = await _check_each_order(shop, admin, plan, orders)
    for product, initial in ((products.plenty, PLENTY_STOCK), (products.scarce, SCARCE_STOCK)):
        bought = sum(
            p.lines.get(product["id"], 0)
            for p in plan
            if orders[p.order_id]["status"] == "confirmed"
        )
        assert reserved[product["id"]] == bought
        assert (await shop.product(product["id"]))["stock"] == initial - bought


async def _storm(shop: Shop, plan: list[Placed], fault: Fault) -> float | None:
    """Place every order at RATE_PER_S (open loop: a slow answer does not delay the next
    order); run `fault` once half of them were accepted, and return what it returns."""
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

    async def at_half_time() -> float | None:
        await half_placed.wait()
        return await fault()

    tasks = [asyncio.create_task(place(n, p)) for n, p in enumerate(plan)]
    faulting = asyncio.create_task(at_half_time())
    try:
        await asyncio.gather(*tasks)
        return await faulting
    finally:
        # A failed placement fails the test; leave nothing running into the next one (and
        # give the dependency back at once: the fault restores it when cancelled).
        for task in (*tasks, faulting):
            task.cancel()
        await asyncio.gather(*tasks, faulting, return_exceptions=True)


async def _all_final(shop: Shop, plan: list[Placed]) -> dict[str, Json]:
    """Every order of the plan's customers, once all are final; waits at most until the last
    deadline plus one sweep (and a little for the reads)."""
    found: dict[str, Json] = {}
    customers = list({id(p.customer): p.customer for p in plan}.values())

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
