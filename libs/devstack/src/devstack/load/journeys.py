"""The traffic mix: what an arriving shopper does.

- browse: the first catalog page, then one product of it;
- sign up: a new account (the welcome email follows), then a log-in; the account joins the
  pool of returning customers;
- order: a returning customer orders one to three products, paying with a card drawn from
  `CARDS` (mostly approved, some declined or short of funds), and follows the order until it is
  final (confirmed, cancelled or rejected), the way a shopper refreshes the order page.

Orders draw from `Shelf.products`: the products the run was given (e.g. ones it created with
plenty of stock), or the catalog's products in stock when it started.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devstack.load.traffic import Traffic

__all__ = ["CARDS", "JOURNEYS", "Customer", "Shelf", "browse", "order", "sign_up"]

Json = dict[str, Any]

CARDS: dict[str, float] = {
    "pm_card_visa": 0.6,
    "pm_card_mastercard": 0.15,
    "pm_card_amex": 0.1,
    "pm_card_declined": 0.1,
    "pm_card_insufficient_funds": 0.05,
}
"""Payment method → share of orders (psp approves the first three, declines the others)."""

PASSWORD = "load generator's throw-away accounts"  # noqa: S105 - accounts made by the run
FINAL = frozenset({"confirmed", "cancelled", "rejected"})
FOLLOW_FOR_S = 60.0
"""How long a shopper follows an order before counting it "still open"."""
POOL_LIMIT = 200


@dataclass(frozen=True)
class Customer:
    email: str
    token: str


@dataclass
class Shelf:
    """What journeys share: the customers signed up so far and the products to order."""

    products: list[str]
    customers: list[Customer] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)

    def returning_customer(self) -> Customer | None:
        return self.rng.choice(self.customers) if self.customers else None

    def welcome(self, customer: Customer) -> None:
        if len(self.customers) >= POOL_LIMIT:
            self.customers[self.rng.randrange(POOL_LIMIT)] = customer
        else:
            self.customers.append(customer)


async def browse(traffic: Traffic, shelf: Shelf) -> None:
    page = await traffic.send(
        "GET /catalog/products", "GET", "/catalog/v1/products", params={"limit": "20"}
    )
    items = page.body.get("items") or []
    if items:
        product = shelf.rng.choice(items)
        await traffic.send(
            "GET /catalog/products/{id}", "GET", f"/catalog/v1/products/{product['id']}"
        )


async def sign_up(traffic: Traffic, shelf: Shelf) -> Customer | None:
    email = f"load-{uuid.uuid4().hex[:12]}@example.com"
    created = await traffic.send(
        "POST /identity/users",
        "POST",
        "/identity/v1/users",
        json={"email": email, "password": PASSWORD, "name": "Load Shopper"},
        expect=(201,),
    )
    if not created.ok:
        return None
    tokens = await traffic.send(
        "POST /identity/tokens",
        "POST",
        "/identity/v1/tokens",
        json={"email": email, "password": PASSWORD},
    )
    if not tokens.ok:
        return None
    customer = Customer(email, str(tokens.body["access_token"]))
    shelf.welcome(customer)
    return customer


async def order(traffic: Traffic, shelf: Shelf) -> None:
    customer = shelf.returning_customer() or await sign_up(traffic, shelf)
    if customer is None or not shelf.products:
        return
    rng = shelf.rng
    chosen = rng.sample(shelf.products, k=min(len(shelf.products), rng.randint(1, 3)))
    card = rng.choices(list(CARDS), weights=list(CARDS.values()))[0]
    posted_at = time.time()
    placed = await traffic.send(
        "POST /orders",
        "POST",
        "/orders/v1/orders",
        token=customer.token,
        json={
            "items": [{"product_id": p, "quantity": rng.randint(1, 2)} for p in chosen],
            "payment_method": card,
        },
        expect=(202,),
    )
    if not placed.ok:
        traffic.tally.orders["refused"] += 1
        return
    order_id = str(placed.body["id"])
    give_up = time.monotonic() + FOLLOW_FOR_S
    while time.monotonic() < give_up:
        await asyncio.sleep(0.5)
        seen = await traffic.send(
            "GET /orders/{id}", "GET", f"/orders/v1/orders/{order_id}", token=customer.token
        )
        status = seen.body.get("status")
        if status in FINAL:
            traffic.tally.orders[str(status)] += 1
            final_at = _final_time(seen.body)
            if final_at is not None:
                traffic.tally.order_final_ms.append(max(0.0, (final_at - posted_at) * 1000))
            return
    traffic.tally.orders["still open"] += 1


def _final_time(order_body: Json) -> float | None:
    """When the order reached its final state, by its own history."""
    history = order_body.get("history") or []
    for entry in reversed(history):
        if entry.get("status") == order_body.get("status"):
            return datetime.fromisoformat(str(entry["at"])).timestamp()
    return None


JOURNEYS = {"browse": (browse, 6.0), "order": (order, 3.0), "sign up": (sign_up, 1.0)}
"""Journey name → (what it does, its weight in the mix)."""
