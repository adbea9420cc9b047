"""The reference shop as its customers and its administrator use it: HTTP through the gateway,
nothing else — but for what the shop's checks read at the payment provider, which is internal
(not behind the gateway): that goes to psp's own address with the merchant's key.
`python -m devstack.demo`, bench/saga.py and the end-to-end and chaos tests (tests/e2e,
tests/chaos) drive the running stack with it.

Every call is an operation of a service's generated client (`clients.<service>`, from its
openapi.json), sent through the httpx clients the Shop was given (devstack.shop_clients); its
answer is parsed into the client's model and returned as that model's JSON (`to_dict()`).

Every POST, PATCH and PUT carries a fresh Idempotency-Key, reused by its own retries. A `429`
from the gateway's rate limit is retried after its `Retry-After`; with `patience_s`, so are
`502`, `503` and `504` (a service restarting, a breaker open) until that much time has passed,
and a `409 …:idempotency-key-in-progress` (its own earlier attempt, cut off by a timeout, still
holds the key), which is how a well-behaved client rides out a restart without placing an order
twice (devstack.shop_calls).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import httpx

import clients.catalog
import clients.identity
import clients.notifications
import clients.orders
import clients.payments
import clients.psp
from clients.catalog.api.products import create_product, get_product, list_products, update_product
from clients.catalog.api.reservations import list_reservations
from clients.catalog.models import (
    NewProduct,
    ProductChange,
    ProductOut,
    ProductPage,
    ReservationList,
)
from clients.identity.api.tokens import create_token
from clients.identity.api.users import get_current_user, sign_up
from clients.identity.models import NewUser, TokenRequest, TokenResponse, UserOut
from clients.notifications.api.notifications import list_my_notifications
from clients.notifications.models import NotificationPage
from clients.orders.api.orders import create_order, get_order, list_my_orders
from clients.orders.models import NewOrder, NewOrderLine, OrderAccepted, OrderOut, OrderPage
from clients.payments.api.payments import list_order_payments
from clients.payments.models import PaymentPage
from clients.psp.api.charges import list_charges
from clients.psp.api.faults import set_faults
from clients.psp.models import ChargePage, FaultsIn, FaultsOut
from devstack.shop_calls import Answer, AnyPage, ShopError, fresh_key, patiently
from devstack.shop_clients import Reach

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

Json = dict[str, Any]
Parsed = TypeVar("Parsed")


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
        self._reach = Reach(http, provider)

    # -- accounts --------------------------------------------------------------------------

    async def sign_up(
        self, name: str = "Shopper", email: str | None = None, password: str = PASSWORD
    ) -> Customer:
        email = email or unique_email()
        user = NewUser(email=email, password=password, name=name)
        key = fresh_key()
        await self._call(
            "POST /identity/v1/users",
            partial(
                sign_up.asyncio_detailed,
                client=clients.identity.Client(**self._reach.public("identity")),
                body=user,
                idempotency_key=key,
            ),
            UserOut,
            ok=(201,),
        )
        return await self.log_in(email, password)

    async def log_in(self, email: str, password: str) -> Customer:
        credentials = TokenRequest(email=email, password=password)
        tokens = await self._call(
            "POST /identity/v1/tokens",
            partial(
                create_token.asyncio_detailed,
                client=clients.identity.Client(**self._reach.public("identity")),
                body=credentials,
            ),
            TokenResponse,
        )
        token = tokens.access_token
        me = await self._call(
            "GET /identity/v1/users/me",
            partial(
                get_current_user.asyncio_detailed,
                client=clients.identity.AuthenticatedClient(
                    **self._reach.public("identity"), token=token
                ),
            ),
            UserOut,
        )
        return Customer(email=email, user_id=me.id, token=token)

    # -- catalog ---------------------------------------------------------------------------

    async def products(self) -> list[Json]:
        """Every product, through all pages."""
        return await self._every_page(
            "GET /catalog/v1/products",
            partial(
                list_products.asyncio_detailed,
                client=clients.catalog.Client(**self._reach.public("catalog")),
                limit=100,
            ),
            ProductPage,
        )

    async def product(self, product_id: str) -> Json:
        product = await self._call(
            f"GET /catalog/v1/products/{product_id}",
            partial(
                get_product.asyncio_detailed,
                product_id,
                client=clients.catalog.Client(**self._reach.public("catalog")),
            ),
            ProductOut,
        )
        return product.to_dict()

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
        new = NewProduct(
            sku=sku or f"T-{uuid.uuid4().hex[:16]}",
            name=name,
            price_cents=price_cents,
            currency=currency,
            stock=stock,
        )
        key = fresh_key()
        product = await self._call(
            "POST /catalog/v1/products",
            partial(
                create_product.asyncio_detailed,
                client=self._catalog(admin),
                body=new,
                idempotency_key=key,
            ),
            ProductOut,
            ok=(201,),
        )
        return product.to_dict()

    async def restock(self, admin: Customer, product_id: str, adjustment: int) -> Json:
        """Add `adjustment` to the product's stock (admin); the product as it is then."""
        change = ProductChange(stock_adjustment=adjustment)
        key = fresh_key()
        product = await self._call(
            f"PATCH /catalog/v1/products/{product_id}",
            partial(
                update_product.asyncio_detailed,
                product_id,
                client=self._catalog(admin),
                body=change,
                idempotency_key=key,
            ),
            ProductOut,
        )
        return product.to_dict()

    async def reservations(self, admin: Customer, order_id: str) -> list[Json]:
        """The stock catalog reserved for the order (admin): none, or one reserved/released."""
        found = await self._call(
            f"GET /catalog/v1/reservations?order_id={order_id}",
            partial(
                list_reservations.asyncio_detailed, client=self._catalog(admin), order_id=order_id
            ),
            ReservationList,
        )
        return [reservation.to_dict() for reservation in found.items]

    def _catalog(self, reader: Customer) -> clients.catalog.AuthenticatedClient:
        return clients.catalog.AuthenticatedClient(
            **self._reach.public("catalog"), token=reader.token
        )

    # -- orders ----------------------------------------------------------------------------

    async def place_order(
        self, customer: Customer, lines: Mapping[str, int], payment_method: str = "pm_card_visa"
    ) -> str:
        """Place an order (202, pending); returns its id."""
        new = NewOrder(
            items=[NewOrderLine(product_id=p, quantity=q) for p, q in lines.items()],
            payment_method=payment_method,
        )
        key = fresh_key()
        accepted = await self._call(
            "POST /orders/v1/orders",
            partial(
                create_order.asyncio_detailed,
                client=self._orders(customer),
                body=new,
                idempotency_key=key,
            ),
            OrderAccepted,
            ok=(202,),
        )
        return accepted.id

    async def order(self, customer: Customer, order_id: str) -> Json:
        order = await self._call(
            f"GET /orders/v1/orders/{order_id}",
            partial(get_order.asyncio_detailed, order_id, client=self._orders(customer)),
            OrderOut,
        )
        return order.to_dict()

    async def orders(self, customer: Customer) -> list[Json]:
        """Every order of the customer, newest first, through all pages."""
        return await self._every_page(
            "GET /orders/v1/orders",
            partial(list_my_orders.asyncio_detailed, client=self._orders(customer), limit=100),
            OrderPage,
        )

    def _orders(self, customer: Customer) -> clients.orders.AuthenticatedClient:
        return clients.orders.AuthenticatedClient(
            **self._reach.public("orders"), token=customer.token
        )

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
        page = await self._call(
            f"GET /payments/v1/payments?order_id={order_id}",
            partial(
                list_order_payments.asyncio_detailed,
                client=clients.payments.AuthenticatedClient(
                    **self._reach.public("payments"), token=reader.token
                ),
                order_id=order_id,
            ),
            PaymentPage,
        )
        return [payment.to_dict() for payment in page.items]

    async def charges(self, order_id: str) -> list[Json]:
        """What the payment provider (psp) charged for the order, oldest first."""
        page = await self._call(
            f"GET psp /v1/charges?reference={order_id}",
            partial(
                list_charges.asyncio_detailed,
                client=clients.psp.AuthenticatedClient(**self._reach.provider()),
                reference=order_id,
            ),
            ChargePage,
        )
        return [charge.to_dict() for charge in page.items]

    async def set_psp_faults(self, admin: Customer, **knobs: Any) -> Json:
        """Set the provider's fault knobs (`outage`, `error_rate`, ...); omitted ones are off."""
        faults = FaultsIn(**knobs)
        key = fresh_key()
        answer = await self._call(
            "PUT psp /v1/admin/faults",
            partial(
                set_faults.asyncio_detailed,
                client=clients.psp.AuthenticatedClient(**self._reach.provider(admin.token)),
                body=faults,
                idempotency_key=key,
            ),
            FaultsOut,
        )
        return answer.to_dict()

    async def notifications(self, customer: Customer) -> list[Json]:
        """The customer's latest notifications (emails), newest first."""
        page = await self._call(
            "GET /notifications/v1/notifications",
            partial(
                list_my_notifications.asyncio_detailed,
                client=clients.notifications.AuthenticatedClient(
                    **self._reach.public("notifications"), token=customer.token
                ),
                limit=100,
            ),
            NotificationPage,
        )
        return [notification.to_dict() for notification in page.items]

    # -- the one way every call is made ----------------------------------------------------

    async def _call(
        self,
        what: str,
        send: Callable[[], Awaitable[Answer]],
        parsed: type[Parsed],
        *,
        ok: tuple[int, ...] = (200,),
    ) -> Parsed:
        return await patiently(what, send, parsed, ok=ok, patience_s=self.patience_s)

    async def _every_page(
        self, what: str, page: Callable[..., Awaitable[Answer]], parsed: type[AnyPage]
    ) -> list[Json]:
        """The items of every page: `page(cursor=...)` from the first (no cursor) on."""
        found: list[Json] = []
        cursor: str | None = None
        while True:
            one = await self._call(what, partial(page, cursor=cursor), parsed)
            found += [item.to_dict() for item in one.items]
            cursor = one.next_cursor
            if cursor is None:
                return found
