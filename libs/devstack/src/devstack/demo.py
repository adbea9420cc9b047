"""`python -m devstack.demo` (`make demo`): the shop at work, against the running `make up` stack.

It signs up a demo customer, reads the seeded demo catalog, places one order of each kind
through the gateway — a paid one, more signed posters than there are, a declined card, a card
short of funds — waits until each is final, and prints each order's journey: the states it went
through with their times and causes (the order's history), the payment and the provider's
charge, and the email the customer got. Everything it shows comes from the services' APIs (the
provider's charges from psp's own port with the stack's merchant key: psp is not public).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from devstack.profiles import Profile, profile
from devstack.provider_keys import provider_client
from devstack.shop import Customer, Shop, ShopError, StillOpen, unique_email
from devstack.stack import Stack

__all__ = ["main"]

Json = dict[str, Any]

SERVICES = ("identity", "catalog", "orders", "payments", "notifications")
"""The public services the demo calls through the gateway (and psp, internal, directly)."""

CAUSES = {
    "placed": "the customer placed it (POST /orders/v1/orders)",
    "catalog.stock.reserved.v1": "catalog reserved the stock",
    "catalog.stock.rejected.v1": "catalog had not enough stock",
    "payments.payment.succeeded.v1": "payments charged the card at the psp",
    "payments.payment.failed.v1": "payments could not charge the card",
    "deadline_passed": "its deadline passed before it was final",
}


class DemoError(Exception):
    """Why the demo cannot run or did not go as planned; printed as is."""


@dataclass(frozen=True)
class Plan:
    title: str
    lines: dict[str, int]
    """SKU → quantity."""
    payment_method: str
    expected: str


PLANS = (
    Plan("A paid order", {"DEMO-MUG": 1, "DEMO-STICKERS": 2}, "pm_card_visa", "confirmed"),
    Plan("More signed posters than exist", {"DEMO-POSTER": 2}, "pm_card_visa", "rejected"),
    Plan("A declined card", {"DEMO-HOODIE": 1}, "pm_card_declined", "cancelled"),
    Plan("A card short of funds", {"DEMO-CAP": 1}, "pm_card_insufficient_funds", "cancelled"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.demo", description=__doc__)
    parser.add_argument("--profile", default="local", help="the stack to use (default: local)")
    parser.add_argument("--gateway", help="the gateway's URL (default: the profile's)")
    args = parser.parse_args(argv)
    chosen = profile(args.profile)
    gateway = args.gateway or chosen.gateway_url
    try:
        return asyncio.run(_demo(gateway, chosen))
    except DemoError as error:
        print(f"\ndemo: {error}", file=sys.stderr)
        return 1


async def _demo(gateway: str, stack: Profile) -> int:
    whole = Stack(stack)
    async with (
        httpx.AsyncClient(base_url=gateway, timeout=30, trust_env=False) as http,
        provider_client(whole, timeout=30) as provider,
    ):
        shop = Shop(http, provider=provider)
        await _check_running(shop, gateway, whole)
        print(f"Flotilla's shop, through the gateway at {gateway}\n")
        try:
            return await _run(shop, str(stack.mail))
        except (ShopError, StillOpen, httpx.HTTPError) as error:
            raise DemoError(f"{type(error).__name__}: {error}") from None


async def _check_running(shop: Shop, gateway: str, stack: Stack) -> None:
    """The gateway answers, and each service is ready on its own port (/readyz is not served
    through the gateway; psp is not behind it at all)."""
    try:
        await shop.products()
    except ShopError:
        pass  # the gateway answered: the readiness of each service below says what is wrong
    except httpx.TransportError:
        raise DemoError(
            f"nothing answers at {gateway}: the stack is not running. "
            "Start it with `make up`, then run `make demo` again."
        ) from None
    for service in (*SERVICES, "psp"):
        if not await asyncio.to_thread(stack.service(service).is_ready):
            raise DemoError(
                f"{service} is not ready (GET {stack.service(service).url}/readyz): "
                f"`make status` shows what runs, and {stack.profile.logs / service}.log why."
            )


async def _run(shop: Shop, mail_folder: str) -> int:
    customer = await shop.sign_up("Dana Demo", unique_email("dana"))
    print(f"1. Signed up {customer.email} ({customer.user_id}) and logged in.\n")

    products = {p["sku"]: p for p in await shop.products() if p["sku"].startswith("DEMO-")}
    missing = sorted({sku for plan in PLANS for sku in plan.lines} - set(products))
    if missing:
        raise DemoError(
            f"the demo catalog lacks {', '.join(missing)}: `make up` seeds it "
            "(python -m catalog seed-demo)."
        )
    print("2. The demo catalog (GET /catalog/v1/products):")
    for product in sorted(products.values(), key=lambda p: p["sku"]):
        price = _money(product["price_cents"], product["currency"])
        name, stock = product["name"], product["stock"]
        print(f"     {product['sku']:<15}{name:<24}{price:>12}   {stock:>4} in stock")

    print("\n3. Orders placed (POST /orders/v1/orders answers 202, the order pending):")
    placed: list[tuple[Plan, str]] = []
    for plan in PLANS:
        lines = {products[sku]["id"]: quantity for sku, quantity in plan.lines.items()}
        order_id = await shop.place_order(customer, lines, plan.payment_method)
        placed.append((plan, order_id))
        print(f"     {order_id}  {plan.title.lower()}")
    print("   ... waiting until each is final (catalog, payments and the psp work through Kafka)")
    orders = await asyncio.gather(*(shop.until_final(customer, oid) for _, oid in placed))

    names = {p["id"]: p["name"] for p in products.values()}
    surprises = 0
    for number, ((plan, _), order) in enumerate(zip(placed, orders, strict=True), start=1):
        journey = await _journey(shop, customer, order)
        print()
        print(_render(number, plan, order, journey, names))
        if order["status"] != plan.expected:
            surprises += 1
            print(f"   !! expected {plan.expected.upper()}: is the demo stock used up?")
    print(
        f"\nThe emails are also files in {mail_folder}/ (the local SMTP sink). Each service "
        "documents its API at /<service>/docs on the gateway."
    )
    return 1 if surprises else 0


@dataclass(frozen=True)
class Journey:
    payments: list[Json]
    charges: list[Json]
    email: Json | None


async def _journey(shop: Shop, customer: Customer, order: Json) -> Journey:
    """The order's payment, charges and email; the email follows the final state through
    Kafka, so it is waited for a few seconds."""
    email: Json | None = None
    for _ in range(100):
        email = next(
            (n for n in await shop.notifications(customer) if order["id"] in n["subject"]), None
        )
        if email is not None:
            break
        await asyncio.sleep(0.1)
    return Journey(
        payments=await shop.payments(customer, order["id"]),
        charges=await shop.charges(order["id"]),
        email=email,
    )


def _render(number: int, plan: Plan, order: Json, journey: Journey, names: dict[str, str]) -> str:
    items = ", ".join(f"{i['quantity']} x {names.get(i['product_id'], i['product_id'])}"
                      for i in order["items"])  # fmt: skip
    status = order["status"].upper() + (f" ({order['reason']})" if order["reason"] else "")
    out = [
        f"── {number}. {plan.title}: {items}, paid with {order['payment_method']}",
        f"   order     {order['id']}  {status}, total "
        f"{_money(order['total_cents'], order['currency'])}",
    ]
    started = datetime.fromisoformat(order["history"][0]["at"])
    for index, entry in enumerate(order["history"]):
        at = datetime.fromisoformat(entry["at"])
        elapsed = f"+{(at - started).total_seconds() * 1000:,.0f} ms" if index else ""
        label = "journey" if index == 0 else ""
        cause = CAUSES.get(entry["cause"], "")
        out.append(
            f"   {label:<10}{_clock(at)} {elapsed:>10}  {entry['status']:<17} {entry['cause']}"
            + (f"  — {cause}" if cause else "")
        )
    for payment in journey.payments:
        outcome = payment["status"] + (f" ({payment['reason']})" if payment["reason"] else "")
        attempts = f"{payment['attempts']} attempt{'s' if payment['attempts'] != 1 else ''}"
        out.append(
            f"   payment   {payment['id']}  {outcome}, "
            f"{_money(payment['amount_cents'], payment['currency'])}, {attempts}"
        )
    if not journey.payments:
        out.append("   payment   none: nothing was reserved, so nothing was charged")
    for charge in journey.charges:
        declined = f" ({charge['decline_code']})" if charge["decline_code"] else ""
        out.append(
            f"   charge    {charge['id']}  {charge['status']}{declined} at the psp, "
            f"{_money(charge['amount'], charge['currency'])} on {charge['payment_method']}"
        )
    if journey.email is None:
        out.append("   email     not sent yet")
    else:
        out.append(f"   email     to {journey.email['recipient']}: {journey.email['subject']}")
        body = [line for line in journey.email["body"].splitlines() if line.strip()]
        out += [f"             | {line}" for line in body]
    return "\n".join(out)


def _money(cents: int, currency: str) -> str:
    return f"{cents // 100}.{cents % 100:02d} {currency}"


def _clock(at: datetime) -> str:
    """The local time of day, to the millisecond."""
    return at.astimezone().strftime("%H:%M:%S.%f")[:-3]


if __name__ == "__main__":
    sys.exit(main())
