"""`make demo` (`python -m devstack.demo`): against a running stack it shows one order of each
outcome from start to end; without one it says so and fails."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from devstack.process import free_port
from devstack.profiles import Profile
from devstack.shop import Customer, Shop
from devstack.stack import Stack

pytestmark = pytest.mark.e2e

RESTOCKED = {"DEMO-MUG", "DEMO-STICKERS", "DEMO-HOODIE", "DEMO-CAP"}


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack.demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_demo_prints_the_journey_of_an_order_of_each_outcome(
    shop: Shop, admin: Customer, test_stack: Stack, stack_profile: Profile
) -> None:
    # The demo catalog, as `make up` seeds it for the local stack; kept in stock, but for the
    # one signed poster.
    await asyncio.to_thread(test_stack.service("catalog").run, "seed-demo")
    for product in await shop.products():
        if product["sku"] in RESTOCKED and product["stock"] < 10:
            await shop.restock(admin, product["id"], 100)

    demo = await asyncio.to_thread(_demo, "--profile", stack_profile.name)

    assert demo.returncode == 0, demo.stdout + demo.stderr
    out = demo.stdout
    assert "DEMO-POSTER" in out  # the catalog it read
    for outcome in ("CONFIRMED", "REJECTED (out_of_stock)", "CANCELLED (payment_declined)"):
        assert outcome in out
    for step in (
        "catalog.stock.reserved.v1",
        "catalog.stock.rejected.v1",
        "payments.payment.succeeded.v1",
        "payments.payment.failed.v1",
    ):
        assert step in out
    assert "succeeded at the psp" in out
    assert "failed (card_declined) at the psp" in out
    assert out.count("   email     to dana-") == 4
    assert "because your payment was declined." in out


def test_without_a_running_stack_the_demo_says_so_and_fails() -> None:
    demo = _demo("--gateway", f"http://127.0.0.1:{free_port()}")

    assert demo.returncode == 1
    assert "the stack is not running. Start it with `make up`" in demo.stderr
    assert "Traceback" not in demo.stderr
