"""`python -m devstack.load` (`make load`): see the package's docstring."""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import time
from pathlib import Path

import httpx

from devstack.accounts import ADMIN_EMAIL
from devstack.load.journeys import JOURNEYS, Shelf, sign_up
from devstack.load.report import Report
from devstack.load.runner import Plan, run
from devstack.load.tally import Tally
from devstack.load.traffic import Traffic
from devstack.profiles import Profile, profile, profile_names

__all__ = ["LoadError", "load", "main"]

LOAD_PRODUCTS = 5
INITIAL_CUSTOMERS = 3
LOAD_STOCK = 1_000_000
DEFAULT_DURATION_S = 30.0


class LoadError(Exception):
    """Why the run cannot start; printed as is, exit 1."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.load", description=__doc__)
    parser.add_argument(
        "--profile", help="the stack to load (default: local; with --gateway: none)"
    )
    parser.add_argument("--gateway", help="the gateway's URL (default: the profile's)")
    parser.add_argument("--rate", type=float, default=5.0, help="shoppers arriving per second")
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        "--duration", type=float, help=f"seconds of arrivals (default {DEFAULT_DURATION_S:g})"
    )
    length.add_argument(
        "--continuous",
        action="store_true",
        help="arrivals until SIGTERM or SIGINT, then the journeys in flight finish and the "
        "summary is shown (the load generator in a pod)",
    )
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
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text lines for a terminal, or one JSON object a line for a log pipeline",
    )
    parser.add_argument(
        "--wait-for-gateway",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep trying a gateway that does not answer yet for this long (default 0)",
    )
    args = parser.parse_args(argv)
    duration = None if args.continuous else args.duration
    if duration is None and not args.continuous:
        duration = DEFAULT_DURATION_S
    if args.rate <= 0 or (duration is not None and duration <= 0):
        parser.error("--rate and --duration must be positive")
    if args.progress_every is not None and args.progress_every <= 0:
        parser.error("--progress-every must be positive")
    if args.gateway is not None and not args.gateway.startswith(("http://", "https://")):
        parser.error(f"--gateway {args.gateway}: not an http:// or https:// URL")
    if args.wait_for_gateway < 0:
        parser.error("--wait-for-gateway must be 0 or more")
    try:
        gateway, admin_password = _target(args.gateway, args.profile, args.admin_password_file)
    except LoadError as error:
        parser.error(str(error))
    every = args.progress_every or (1.0 if sys.stdout.isatty() else 5.0)
    plan = Plan(rate=args.rate, duration_s=duration, progress_every_s=every)
    report = Report(lambda line: print(line, flush=True), json_lines=args.log_format == "json")
    rng = random.Random(args.seed)  # noqa: S311 - a traffic mix
    try:
        asyncio.run(_load(gateway, plan, admin_password, rng, report, args.wait_for_gateway))
    except LoadError as error:
        print(f"load: {error}", file=sys.stderr)
        return 1
    return 0


def _target(
    gateway: str | None, profile_name: str | None, password_file: Path | None
) -> tuple[str, str | None]:
    """The gateway's URL and the administrator's password (None: unknown). A profile, and its
    stack secret, only when no gateway is given or one is named: a pod has no stack."""
    admin_password = None
    if password_file is not None:
        try:
            admin_password = password_file.read_text().strip()
        except OSError as error:
            raise LoadError(f"--admin-password-file: {error}") from None
        if not admin_password:
            raise LoadError(f"--admin-password-file: {password_file} is empty")
    if gateway is not None and profile_name is None:
        return gateway, admin_password
    name = profile_name or "local"
    if name not in profile_names():
        raise LoadError(f"--profile {name}: no such stack ({', '.join(profile_names())})")
    chosen = profile(name)
    if admin_password is None:
        admin_password = _stack_admin_password(chosen)
    return gateway or chosen.gateway_url, admin_password


def _stack_admin_password(chosen: Profile) -> str | None:
    # Imported here: the stack's modules need the whole workspace (servicekit among them),
    # which the load generator's image, running against a gateway, does not have.
    from devstack.stack import Stack

    stack = Stack(chosen)
    try:
        return stack.admin_password if stack.secrets.exists("admin-password") else None
    except OSError:
        return None


async def _load(
    gateway: str,
    plan: Plan,
    admin_password: str | None,
    rng: random.Random,
    report: Report,
    wait_for_gateway_s: float,
) -> None:
    stop = asyncio.Event()
    if plan.duration_s is None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    await load(gateway, plan, admin_password, rng, report, stop=stop,
               wait_for_gateway_s=wait_for_gateway_s)  # fmt: skip


async def load(
    gateway: str,
    plan: Plan,
    admin_password: str | None,
    rng: random.Random,
    report: Report,
    *,
    stop: asyncio.Event | None = None,
    wait_for_gateway_s: float = 0.0,
) -> Tally:
    """One run through `gateway`: progress and the summary to `report`; returns the tally."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(
        base_url=gateway, timeout=30, limits=limits, trust_env=False
    ) as http:
        traffic = Traffic(http, Tally())
        products = await _products(http, admin_password, wait_for_gateway_s, report)
        length = f"for {plan.duration_s:g} s" if plan.duration_s else "until stopped"
        report.note(
            f"load: {plan.rate:g} shoppers/s {length} through {gateway}, "
            f"ordering from {len(products)} products"
        )
        shelf = Shelf(products, rng=rng)
        # A few returning customers before the first arrival: otherwise every early order
        # journey signs up at once, a burst of password hashes no real shop starts with.
        for _ in range(INITIAL_CUSTOMERS):
            await sign_up(traffic, shelf)
        started = time.monotonic()
        tally, arrivals_s = await run(traffic, shelf, JOURNEYS, plan, report, stop)
        report.summary(tally, plan.rate, arrivals_s, time.monotonic() - started)
    return tally


async def _products(
    http: httpx.AsyncClient, admin_password: str | None, wait_s: float, report: Report
) -> list[str]:
    """The run's own products when the administrator's password is known, else the catalog's
    products in stock."""
    listed = await _catalog_page(http, wait_s, report)
    if admin_password is not None:
        return await _own_products(http, admin_password, listed.json()["items"])
    in_stock = [str(p["id"]) for p in listed.json()["items"] if p.get("stock", 0) > 0]
    if not in_stock:
        raise LoadError("the catalog has no product in stock, and no administrator password")
    return in_stock


async def _catalog_page(http: httpx.AsyncClient, wait_s: float, report: Report) -> httpx.Response:
    """The catalog's first page; a gateway that does not answer, or answers 502/503/504 (its
    services still starting), is tried again every 2 s for `wait_s` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            listed = await http.get("/catalog/v1/products", params={"limit": "100"})
            problem = f"answered {listed.status_code}: {listed.text[:300]}"
            if listed.status_code == 200:
                return listed
            if listed.status_code not in (502, 503, 504):
                raise LoadError(f"GET /catalog/v1/products {problem}")
        except httpx.TransportError as error:
            problem = f"does not answer: {error!r} (is the stack up?)"
        if time.monotonic() >= deadline:
            raise LoadError(f"the gateway {problem}")
        report.note(f"waiting for the gateway, which {problem}")
        await asyncio.sleep(2.0)


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
