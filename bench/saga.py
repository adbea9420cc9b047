"""The order saga end to end, on the bench stack (every service on this machine): orders placed
through the gateway at a fixed arrival rate (open loop: a slow answer does not delay the next
order), each timed from its POST to its final state. Only when `BACKLOG_S` of orders are
waiting for their POST's answer does a step stop sending (it has fallen behind by then, and
the orders it holds back are counted and printed).

For each rate it prints the orders/s completed end to end, p50/p99 from POST to confirmed, the
two hops of the saga (POST → stock reserved: orders' outbox, Kafka, catalog; reserved →
confirmed: catalog's outbox, Kafka, payments and its psp call, Kafka, orders), and as the
baseline the POST alone (the 202 answer), with the ratio. A line says what was reached. The
goal's rate (60 orders/s) is held for a minute instead of a step's 20 s and judged against
issue 15's bar: kept up, every order final, p99 POST → confirmed under 1 s, and the POST alone
under 50 ms at p99. Each step also prints the CPU an order cost the platform and how many of
the machine's cores were busy, and for a step that kept up the rate at which the machine's
cores would be full at that cost: the saga's goals are absolute rates, and a machine half as
fast misses them with the same code. For the goal's minute (or, when the goal's rate was not
reached, the highest step that kept up) it prints where that CPU went: each component's
process tree (every service, Postgres with its backends, the broker, the gateway, the mail
sink) and this load's own process, in ms of CPU per order placed, read from /proc over the
placing (in a run that keeps up, the orders in flight at its two ends even out).

The final state's time is the one orders recorded in the order's history (same machine, same
clock), so the run's own polling, done after the last POST, does not distort what is measured.
This module places and measures the orders; `saga_report.py` holds a step's result and prints
it. Run by `make bench` against the bench stack.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from saga_report import LOAD, Result, report, report_cpu, report_reached

from devstack.measure.cpu import cpu_seconds
from devstack.profiles import profile
from devstack.shop import Customer, Shop, ShopError
from devstack.stack import ADMIN_EMAIL, Stack

Json = dict[str, Any]

CUSTOMERS = 4
"""Spread over a few accounts. The gateway limits per client address (100 requests/s per
service, whatever the token), well above the rates measured here."""


@dataclass
class Sent:
    customer: Customer
    posted_at: float = 0.0
    """Wall clock (time.time) just before the POST."""
    post_s: float = 0.0
    order_id: str = ""
    refused: int | None = None
    """The status that refused the POST (503 when orders' database pool ran dry; 0: no
    answer at all)."""
    held_back: bool = False
    """Not sent: the platform was already `BACKLOG_S` of orders behind (see _place_at_rate)."""


BACKLOG_S = 5.0
"""How far behind, in seconds of orders awaiting their POST's answer, the load lets the
platform fall before it stops sending: past that the step has fallen behind whatever follows,
and an open loop would pile up thousands of requests waiting for the client's connections —
whose bookkeeping then takes the bench a core of its own, on the machine being measured."""


async def _place_at_rate(
    shop: Shop, customers: list[Customer], product_id: str, rate: float, count: int
) -> list[Sent]:
    sent = [Sent(customers[n % len(customers)]) for n in range(count)]
    started = time.perf_counter()
    unanswered = 0
    backlog = max(1, round(rate * BACKLOG_S))

    async def place(index: int, one: Sent) -> None:
        nonlocal unanswered
        await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
        one.posted_at = time.time()
        if unanswered >= backlog:
            one.held_back = True
            return
        unanswered += 1
        before = time.perf_counter()
        try:
            one.order_id = await shop.place_order(one.customer, {product_id: 1}, "pm_card_visa")
        except ShopError as error:
            one.refused = error.status
        except httpx.TransportError:
            one.refused = 0  # no answer at all
        finally:
            unanswered -= 1
        one.post_s = time.perf_counter() - before

    await asyncio.gather(*(place(n, one) for n, one in enumerate(sent)))
    return sent


async def _finals(shop: Shop, sent: list[Sent], timeout_s: float = 180.0) -> dict[str, Json]:
    """Every order once final (read after the run, eight at a time)."""
    finals: dict[str, Json] = {}
    reads = asyncio.Semaphore(8)
    deadline = time.monotonic() + timeout_s

    async def read(one: Sent) -> None:
        while time.monotonic() < deadline:
            async with reads:
                order = await shop.order(one.customer, one.order_id)
            if order["status"] in ("confirmed", "cancelled", "rejected"):
                finals[one.order_id] = order
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"order {one.order_id} not final within {timeout_s:.0f}s")

    await asyncio.gather(*(read(one) for one in sent if one.order_id))
    return finals


async def measure(
    shop: Shop,
    customers: list[Customer],
    product_id: str,
    rate: float,
    seconds: float,
    components: Mapping[str, int] | None = None,
) -> Result:
    """One run at `rate`; with `components` (name → pid), the CPU each one's process tree used
    while the orders were placed, before the run's own reads of the outcomes."""
    cpu_before = _cpu(components)
    placing_from = time.perf_counter()
    sent = await _place_at_rate(shop, customers, product_id, rate, round(rate * seconds))
    placing_s = time.perf_counter() - placing_from
    cpu_after = _cpu(components)
    finals = await _finals(shop, sent)
    cpu_s = {name: cpu_after[name] - cpu_before[name] for name in cpu_before}
    result = Result(rate, len(sent), 0, 0.0, backlog_s=BACKLOG_S, cpu_s=cpu_s, placing_s=placing_s)
    last_final = 0.0
    for one in sent:
        if one.held_back:
            result.held_back += 1
            continue
        if not one.order_id:
            result.refused += 1
            continue
        order = finals[one.order_id]
        at = {e["status"]: datetime.fromisoformat(e["at"]).timestamp() for e in order["history"]}
        result.post_ms.append(one.post_s * 1000)
        result.post_offsets_s.append(one.posted_at - sent[0].posted_at)
        if order["status"] != "confirmed":
            continue
        result.confirmed += 1
        result.end_to_end_ms.append((at["confirmed"] - one.posted_at) * 1000)
        result.reserve_ms.append((at["awaiting_payment"] - one.posted_at) * 1000)
        result.pay_ms.append((at["confirmed"] - at["awaiting_payment"]) * 1000)
        last_final = max(last_final, at["confirmed"])
    elapsed = last_final - min(one.posted_at for one in sent)
    result.completed_per_s = result.confirmed / elapsed if elapsed > 0 else 0.0
    return result


def _cpu(components: Mapping[str, int] | None) -> dict[str, float]:
    if components is None:
        return {}
    return {**cpu_seconds(components), LOAD: time.process_time()}


def stack_components(stack: Stack) -> dict[str, int]:
    """Every running part of the stack by name: its root process, whose tree is measured."""
    parts: dict[str, int | None] = {
        **{name: stack.service(name).pid() for name in stack.service_names},
        "postgres": stack.postgres.pid(),
        "kafka": stack.kafka.pid(),
        "gateway": stack.gateway.pid(),
        "smtp-sink": stack.smtp_sink.pid(),
    }
    return {name: pid for name, pid in parts.items() if pid is not None}


@dataclass
class Shoppers:
    """What placing orders needs: the shop's client, its customers, a product in stock."""

    shop: Shop
    customers: list[Customer]
    product_id: str

    async def measure(
        self, rate: float, seconds: float, components: Mapping[str, int] | None = None
    ) -> Result:
        return await measure(self.shop, self.customers, self.product_id, rate, seconds, components)


@asynccontextmanager
async def open_shop(stack: Stack) -> AsyncIterator[Shoppers]:
    """A product with plenty of stock and a few customers on `stack`, through its gateway,
    warmed up with a couple of seconds of orders."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    async with httpx.AsyncClient(
        base_url=stack.profile.gateway_url, timeout=60, limits=limits, trust_env=False
    ) as http:
        shop = Shop(http)
        admin = await shop.log_in(ADMIN_EMAIL, stack.admin_password)
        product = await shop.add_product(admin, name="Bench widget", stock=1_000_000)
        customers = list(
            await asyncio.gather(*(shop.sign_up(f"Bench {n}") for n in range(CUSTOMERS)))
        )
        ready = Shoppers(shop, customers, product["id"])
        await ready.measure(rate=10, seconds=2)  # warm-up
        yield ready


async def run(
    rates: list[float],
    seconds: float,
    goal_rate: float,
    hold_s: float,
    warm_up_s: float,
    profile_name: str,
) -> None:
    stack = Stack(profile(profile_name))
    async with open_shop(stack) as shoppers:
        if warm_up_s > 0:
            # A freshly started broker compiles its hot paths (JIT) in the first minute of
            # load, on the cores the services share here (docs/performance.md): the steps
            # measure the platform after that, as it runs once it has been up a while.
            print(f"\nwarm-up, not judged: {goal_rate:g} orders/s for {warm_up_s:g} s")
            report(await shoppers.measure(goal_rate, warm_up_s), warm_up_s)
        results = []
        held: Result | None = None
        for rate in rates:
            is_goal = rate == goal_rate and hold_s > 0
            length = hold_s if is_goal else seconds
            results.append(await shoppers.measure(rate, length, stack_components(stack)))
            report(results[-1], length)
            if is_goal:
                held = results[-1]
                report_cpu(held)
            if not results[-1].kept_up:
                break  # a higher rate only queues more
    report_reached(results, rates[-1], goal_rate, hold_s, held)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[10, 20, 40, 60, 80, 100],
        help="orders/s, one run each, stepped up until one falls behind",
    )
    parser.add_argument("--seconds", type=float, default=20, help="length of each run")
    parser.add_argument(
        "--goal-rate", type=float, default=60, help="the step held for --hold seconds"
    )
    parser.add_argument(
        "--hold",
        type=float,
        default=60,
        help="seconds the goal's rate is held, judged against issue 15 (0: a step like the others)",
    )
    parser.add_argument(
        "--warm-up",
        type=float,
        default=30,
        help="seconds at the goal's rate before the steps, reported but not judged (0: none)",
    )
    parser.add_argument("--profile", default="bench", help="the running stack to load")
    args = parser.parse_args()
    asyncio.run(
        run(args.rates, args.seconds, args.goal_rate, args.hold, args.warm_up, args.profile)
    )


if __name__ == "__main__":
    main()
