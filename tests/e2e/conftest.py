"""Fixtures of the end-to-end tests: they talk to the running test stack through its gateway.

The shop's tests drive it with `devstack.shop.Shop` (what a customer and the administrator do,
over HTTP only) and check every outcome through the services' own APIs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.profiles import REPO_ROOT, Profile
from devstack.provider_keys import provider_client
from devstack.shop import Customer, Shop
from devstack.smtp_sink import read_messages
from devstack.stack import ADMIN_EMAIL, Stack
from servicekit.testing.events import eventually

Json = dict[str, Any]
# Kept after the run (make test deletes the test stack, not this folder); git ignores it.
DOCS_SCREENSHOTS = REPO_ROOT / "test-artefacts" / "docs"
SHOP_SERVICES = frozenset({"identity", "catalog", "orders", "payments", "psp", "notifications"})


@pytest.fixture
async def gateway(test_stack: Stack, stack_profile: Profile) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack_profile.gateway_url, timeout=10) as client:
        yield client


@pytest.fixture
async def provider(test_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """psp on its own port, with the stack's merchant key (psp is not behind the gateway)."""
    async with provider_client(test_stack) as client:
        yield client


@pytest.fixture
def shop(gateway: httpx.AsyncClient, provider: httpx.AsyncClient, test_stack: Stack) -> Shop:
    missing = SHOP_SERVICES - set(test_stack.service_names)
    if missing:
        pytest.fail(f"the shop needs {', '.join(sorted(missing))} in the stack")
    return Shop(gateway, provider=provider)


@pytest.fixture
async def admin(shop: Shop, test_stack: Stack) -> Customer:
    return await shop.log_in(ADMIN_EMAIL, test_stack.admin_password)


@pytest.fixture(scope="session")
async def customers(test_stack: Stack, stack_profile: Profile) -> list[Customer]:
    """Ten signed-up customers shared by the shop's tests (a sign-up hashes a password, which
    takes the better part of a second on a small machine). Tokens last 15 minutes."""
    async with httpx.AsyncClient(base_url=stack_profile.gateway_url, timeout=60) as client:
        # Ten hashes at once are more than identity's hashing budget runs together: a busy
        # identity answers 503 with Retry-After, which a client waits out, as this one does.
        shop = Shop(client, patience_s=120)
        return list(await asyncio.gather(*(shop.sign_up(f"Shopper {n}") for n in range(10))))


@pytest.fixture
def customer(customers: list[Customer]) -> Customer:
    return customers[0]


@pytest.fixture
def new_product(shop: Shop, admin: Customer) -> Callable[..., Awaitable[Json]]:
    """`await new_product(stock=3, price_cents=1500)`: a product of the test's own, in EUR."""

    async def create(*, stock: int, price_cents: int = 1_500) -> Json:
        return await shop.add_product(
            admin, name="End-to-end test product", stock=stock, price_cents=price_cents
        )

    return create


@pytest.fixture
async def psp_faults(shop: Shop, admin: Customer) -> AsyncIterator[Callable[..., Awaitable[Json]]]:
    """Sets the stack psp's fault knobs (`await psp_faults(outage=True)`; no arguments turns
    them off); they are off again after the test, whatever happens."""

    async def set_faults(**knobs: Any) -> Json:
        return await shop.set_psp_faults(admin, **knobs)

    yield set_faults
    await set_faults()


@pytest.fixture
def metric(test_stack: Stack) -> Callable[..., Awaitable[float]]:
    """`await metric("payments", "flotilla_events_consumed_total", outcome="retried")`: the sum
    of a service's samples with those labels, read from its `/metrics` on its own port, as
    Prometheus scrapes it (the gateway does not serve /metrics)."""

    async def read(service: str, name: str, **labels: str) -> float:
        async with httpx.AsyncClient(base_url=test_stack.service(service).url) as direct:
            response = await direct.get("/metrics")
        assert response.status_code == 200, response.text
        return sum(
            sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    return read


@pytest.fixture
def email_about(shop: Shop) -> Callable[[Customer, str], Awaitable[Json]]:
    """`await email_about(customer, order_id)`: the one notification about the order, once it
    was sent (notifications' API)."""

    async def find(customer: Customer, order_id: str) -> Json:
        found: list[Json] = []

        async def sent() -> bool:
            found[:] = [
                n
                for n in await shop.notifications(customer)
                if order_id in n["subject"] and n["status"] == "sent"
            ]
            return bool(found)

        await eventually(sent, timeout_s=20, what=f"the email about {order_id}")
        [notification] = found
        return notification

    return find


@pytest.fixture
def mailbox(stack_profile: Profile) -> Callable[[str, str], list[EmailMessage]]:
    """`mailbox(address, order_id)`: the messages the SMTP sink received for the address about
    the order (its files in `.run/<profile>/mail/`)."""

    def messages(address: str, order_id: str) -> list[EmailMessage]:
        return [
            message
            for message in read_messages(stack_profile.mail)
            if message["To"] == address and order_id in str(message["Subject"])
        ]

    return messages


@pytest.fixture(scope="session")
def docs_screenshots(request: pytest.FixtureRequest) -> Path:
    """Where test_docs_in_a_browser.py saves each docs page as the browser showed it: emptied
    once per run, named at the end of pytest's output."""
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in DOCS_SCREENSHOTS.glob("*.png"):
        old.unlink()
    request.config.stash[_SCREENSHOTS_TAKEN] = True
    return DOCS_SCREENSHOTS


_SCREENSHOTS_TAKEN = pytest.StashKey[bool]()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if config.stash.get(_SCREENSHOTS_TAKEN, False):
        taken = len(list(DOCS_SCREENSHOTS.glob("*.png")))
        terminalreporter.write_line(f"docs screenshots ({taken}) kept in {DOCS_SCREENSHOTS}/")
