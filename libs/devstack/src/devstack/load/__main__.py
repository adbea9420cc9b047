"""`python -m devstack.load` (`make load`): see the package's docstring."""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from devstack.load.journeys import JOURNEYS, Shelf, sign_up
from devstack.load.runner import Plan, run, summary
from devstack.load.tally import Tally
from devstack.load.traffic import Traffic
from devstack.profiles import profile
from devstack.stack import ADMIN_EMAIL, Stack

__all__ = ["LoadError", "load", "main"]

LOAD_PRODUCTS = 5
INITIAL_CUSTOMERS = 3
LOAD_STOCK = 1_000_000


class LoadError(Exception):
    """Why the run cannot start; printed as is, exit 1."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.load", description=__doc__)
    parser.add_argument("--profile", default="local", help="the stack to load (default: local)")
    parser.add_argument("--gateway", help="the gateway's URL (default: the profile's)")
    parser.add_argument("--rate", type=float, default=5.0, help="shoppers arriving per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of arrivals")
    parser.add_argument("--seed", type=int, help="seed the traffic mix, for a repeatable run")
    parser.add_argument(
        "--admin-password-file",
        type=Path,
        help="the administrator's password, to create the run's own products with plenty of "
        "stock (default: the profile's stack secret when it is readable; without it, orders "
        "draw from the catalog's products in stock)",
    )
    parser.add_argument(
        "--progress-every", type=float, help="seconds between progress lines (1 on a terminal)"
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    chosen = profile(args.profile)
    gateway = args.gateway or chosen.gateway_url
    admin_password = _admin_password(args.admin_password_file, Stack(chosen))
    every = args.progress_every or (1.0 if sys.stdout.isatty() else 5.0)
    plan = Plan(rate=args.rate, duration_s=args.duration, progress_every_s=every)
    try:
        return asyncio.run(_load(gateway, plan, admin_password, random.Random(args.seed)))  # noqa: S311 - a traffic mix
    except LoadError as error:
        print(f"load: {error}", file=sys.stderr)
        return 1


def _admin_password(given: Path | None, stack: Stack) -> str | None:
    if given is not None:
        return given.read_text().strip()
    try:
        return stack.admin_password if stack.secrets.exists("admin-password") else None
    except OSError:
        return None


async def _load(gateway: str, plan: Plan, admin_password: str | None, rng: random.Random) -> int:
    await load(gateway, plan, admin_password, rng, print)
    return 0


async def load(
    gateway: str,
    plan: Plan,
    admin_password: str | None,
    rng: random.Random,
    show: Callable[[str], None],
) -> Tally:
    """One run through `gateway`: progress and the summary to `show`; returns the tally."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(
        base_url=gateway, timeout=30, limits=limits, trust_env=False
    ) as http:
        traffic = Traffic(http, Tally())
        products = await _products(http, admin_password)
        show(
            f"load: {plan.rate:g} shoppers/s for {plan.duration_s:g} s through {gateway}, "
            f"ordering from {len(products)} products"
        )
        shelf = Shelf(products, rng=rng)
        # A few returning customers before the first arrival: otherwise every early order
        # journey signs up at once, a burst of password hashes no real shop starts with.
        for _ in range(INITIAL_CUSTOMERS):
            await sign_up(traffic, shelf)
        started = time.monotonic()
        tally = await run(traffic, shelf, JOURNEYS, plan, show)
        for line in summary(tally, plan, time.monotonic() - started):
            show(line)
    return tally


async def _products(http: httpx.AsyncClient, admin_password: str | None) -> list[str]:
    """The run's own products when the administrator's password is known, else the catalog's
    products in stock."""
    try:
        listed = await http.get("/catalog/v1/products", params={"limit": "100"})
    except httpx.TransportError as error:
        raise LoadError(f"the gateway does not answer: {error!r} (is the stack up?)") from None
    if listed.status_code != 200:
        raise LoadError(f"GET /catalog/v1/products answered {listed.status_code}: {listed.text}")
    if admin_password is not None:
        return await _own_products(http, admin_password, listed.json()["items"])
    in_stock = [str(p["id"]) for p in listed.json()["items"] if p.get("stock", 0) > 0]
    if not in_stock:
        raise LoadError("the catalog has no product in stock, and no administrator password")
    return in_stock


async def _own_products(
    http: httpx.AsyncClient, admin_password: str, listed: list[dict[str, object]]
) -> list[str]:
    tokens = await http.post(
        "/identity/v1/tokens", json={"email": ADMIN_EMAIL, "password": admin_password}
    )
    if tokens.status_code != 200:
        raise LoadError(f"the administrator's log-in answered {tokens.status_code}")
    auth = {"authorization": f"Bearer {tokens.json()['access_token']}"}
    by_sku = {str(p["sku"]): str(p["id"]) for p in listed}
    ids = []
    for n in range(1, LOAD_PRODUCTS + 1):
        sku = f"LOAD-{n}"
        if sku in by_sku:
            ids.append(by_sku[sku])
            continue
        created = await http.post(
            "/catalog/v1/products",
            headers={**auth, "idempotency-key": f"load-product-{sku}"},
            json={
                "sku": sku,
                "name": f"Load test item {n}",
                "price_cents": 500 * n,
                "currency": "EUR",
                "stock": LOAD_STOCK,
            },
        )
        if created.status_code != 201:
            raise LoadError(f"creating product {sku} answered {created.status_code}")
        ids.append(str(created.json()["id"]))
    return ids


if __name__ == "__main__":
    sys.exit(main())
