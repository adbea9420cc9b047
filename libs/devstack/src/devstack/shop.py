"""The reference shop as its customers and its administrator use it: HTTP through the gateway,
nothing else — but for what the shop's checks read at the payment provider, which is internal
(not behind the gateway): that goes to psp's own address with the merchant's key.
`python -m devstack.demo`, bench/saga.py and the end-to-end and chaos tests (tests/e2e,
tests/chaos) drive the running stack with it.

Every POST and PATCH carries a fresh Idempotency-Key, reused by its own retries. A `429` from
the gateway's rate limit is retried after its `Retry-After`; with `patience_s`, so are `502`,
`503` and `504` (a service restarting, a breaker open) until that much time has passed, and a
`409 …:idempotency-key-in-progress` (its own earlier attempt, cut off by a timeout, still holds
the key), which is how a well-behaved client rides out a restart without placing an order twice.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "FINAL_STATUSES",
    "PASSWORD",
    "Customer",
    "Shop",
    "ShopError",
    "StillOpen",
    "unique_email",
]

FINAL_STATUSES = frozenset({"confirmed", "cancelled", "rejected"})
PASSWORD = "correct horse battery staple"  # noqa: S105 - throw-away test accounts
"""The password of every customer a Shop signs up (they are throw-away accounts)."""

_UNAVAILABLE = frozenset({502, 503, 504})
_RATE_LIMIT_PATIENCE_S = 30.0
_IN_PROGRESS = "urn:flotilla:problem:idempotency-key-in-progress"

Json = dict[str, Any]


class ShopError(RuntimeError):
    """The shop answered what the caller did not expect; says what was asked and answered."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {body[:500]}")
        self.status = status


class StillOpen(TimeoutError):
    """An order was not final within the time the caller gave it."""

    def __init__(self, order: Json, timeout_s: float) -> None:
        super().__init__(
            f"order {order.get('id')} still {order.get('status')} after {timeout_s:.0f}s"
        )
        self.order = order


@dataclass(frozen=True)
class Customer:
    """A signed-in account (a customer, or the administrator)."""

    email: str
    user_id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


def unique_email(prefix: str = "shopper") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


class Shop:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        provider: httpx.AsyncClient | None = None,
        patience_s: float = 0.0,
    ) -> None:
        """`http` has the gateway as its base URL; `provider`, psp's own address and the
        merchant's API key (`devstack.provider_keys.provider_client`), for `charges` and
        `set_psp_faults`."""
        self.http = http
        self.provider = provider
        self.patience_s = patience_s

    # -- accounts --------------------------------------------------------------------------

    async def sign_up(
        self, name: str = "Shopper", email: str | None = None, password: str = PASSWORD
    ) -> Customer:
        email = email or unique_email()
        await self.call(
            "POST",
            "/identity/v1/users",
            json={"email": email, "password": password, "name": name},
            ok=(201,),
        )
        return await self.log_in(email, password)

    async def log_in(self, email: str, password: str) -> Customer:
        tokens = await self.call(
            "POST", "/identity/v1/tokens", json={"email": email, "password": password}
        )
        token = str(tokens["access_token"])
        me = await self.call("GET", "/identity/v1/users/me", token=token)
        return Customer(email=email, user_id=str(me["id"]), token=token)

    # -- catalog ---------------------------------------------------------------------------

    async def products(self) -> list[Json]:
        """Every product, through all pages."""
        found: list[Json] = []
        cursor: str | None = None
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            page = await self.call("GET", "/catalog/v1/products", params=params)
            found += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    async def product(self, product_id: str) -> Json:
        return await self.call("GET", f"/catalog/v1/products/{product_id}")

    async def add_product(
        self,
        admin: Customer,
        *,
        name: str,
        stock: int,
        price_cents: int = 1_000,
        currency: str = "EUR",
        sku: str | None = None,
    ) -> Json:
        body = {
            "sku": sku or f"T-{uuid.uuid4().hex[:16]}",
            "name": name,
            "price_cents": price_cents,
            "currency": currency,
            "stock": stock,
        }
        return await self.call(
            "POST", "/catalog/v1/products", token=admin.token, json=body, ok=(201,)
        )

    async def reservations(self, admin: Customer, order_id: str) -> list[Json]:
        """The stock catalog reserved for the order (admin): none, or one reserved/released."""
        page = await self.call(
            "GET", "/catalog/v1/reservations", token=admin.token, params={"order_id": order_id}
        )
        return list(page["items"])

    # -- orders ----------------------------------------------------------------------------

    async def place_order(
        self, customer: Customer, lines: Mapping[str, int], payment_method: str = "pm_card_visa"
    ) -> str:
        """Place an order (202, pending); returns its id."""
        body = {
            "items": [{"product_id": p, "quantity": q} for p, q in lines.items()],
            "payment_method": payment_method,
        }
        accepted = await self.call(
            "POST", "/orders/v1/orders", token=customer.token, json=body, ok=(202,)
        )
        return str(accepted["id"])

    async def order(self, customer: Customer, order_id: str) -> Json:
        return await self.call("GET", f"/orders/v1/orders/{order_id}", token=customer.token)

    async def orders(self, customer: Customer) -> list[Json]:
        """Every order of the customer, newest first, through all pages."""
        found: list[Json] = []
        cursor: str | None = None
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            page = await self.call("GET", "/orders/v1/orders", token=customer.token, params=params)
            found += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    async def until_final(self, customer: Customer, order_id: str, timeout_s: float = 30.0) -> Json:
        """Poll the order until it is confirmed, cancelled or rejected; raises StillOpen."""
        deadline = time.monotonic() + timeout_s
        while True:
            order = await self.order(customer, order_id)
            if order["status"] in FINAL_STATUSES:
                return order
            if time.monotonic() > deadline:
                raise StillOpen(order, timeout_s)
            await asyncio.sleep(0.05)

    # -- payments, the provider, notifications ---------------------------------------------

    async def payments(self, reader: Customer, order_id: str) -> list[Json]:
        """The order's payments (the reader's own, or anyone's for the administrator)."""
        page = await self.call(
            "GET", "/payments/v1/payments", token=reader.token, params={"order_id": order_id}
        )
        return list(page["items"])

    async def charges(self, order_id: str) -> list[Json]:
        """What the payment provider (psp) charged for the order, oldest first."""
        page = await self.call(
            "GET", "/v1/charges", params={"reference": order_id}, client=self._provider()
        )
        return list(page["items"])

    async def set_psp_faults(self, admin: Customer, **knobs: Any) -> Json:
        """Set the provider's fault knobs (`outage`, `error_rate`, ...); omitted ones are off."""
        return await self.call(
            "PUT", "/v1/admin/faults", token=admin.token, json=knobs, client=self._provider()
        )

    def _provider(self) -> httpx.AsyncClient:
        if self.provider is None:
            raise RuntimeError("this Shop was made without a provider client (psp is internal)")
        return self.provider

    async def notifications(self, customer: Customer) -> list[Json]:
        """The customer's latest notifications (emails), newest first."""
        page = await self.call(
            "GET", "/notifications/v1/notifications", token=customer.token, params={"limit": "100"}
        )
        return list(page["items"])

    # -- the one way every call is made ----------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        client: httpx.AsyncClient | None = None,
    ) -> Json:
        """One request (through the gateway, unless `client` is given), retried as the module
        says; its JSON body, or ShopError."""
        http = client or self.http
        headers = {"authorization": f"Bearer {token}"} if token else {}
        if method in ("POST", "PATCH", "PUT", "DELETE"):
            headers["Idempotency-Key"] = str(uuid.uuid4())
        started = time.monotonic()
        delay = 0.1
        while True:
            waited = time.monotonic() - started
            try:
                response = await http.request(
                    method, path, headers=headers, json=json, params=params
                )
            except httpx.TransportError:
                if waited >= self.patience_s:
                    raise
                status, pause = 0, delay
            else:
                status = response.status_code
                if status in ok:
                    return dict(response.json()) if response.content else {}
                pause = _retry_after(response, delay)
                if not (
                    (status == 429 and waited < max(self.patience_s, _RATE_LIMIT_PATIENCE_S))
                    or (status in _UNAVAILABLE and waited < self.patience_s)
                    or (_in_progress(response) and waited < self.patience_s)
                ):
                    raise ShopError(method, path, status, response.text)
            await asyncio.sleep(pause)
            delay = min(delay * 2, 1.0)


def _in_progress(response: httpx.Response) -> bool:
    if response.status_code != 409:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("type") == _IN_PROGRESS


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("retry-after", default)), 5.0)
    except ValueError:
        return default
