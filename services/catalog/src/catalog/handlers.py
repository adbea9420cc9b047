"""catalog's use cases. They take the request's (or consumer's) session and never commit."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.domain import Product, Reservation, requested_quantities, shortfalls
from catalog.repository import ProductRepository, ReservationRepository
from contracts.catalog import StockRejectedV1, StockReleasedV1, StockReservedV1
from contracts.orders import OrderCancelledV1, OrderPlacedV1
from contracts.values import StockLine
from servicekit import new_id
from servicekit.events import EventContext

__all__ = [
    "DEMO_PRODUCTS",
    "change_product",
    "create_product",
    "get_product",
    "list_products",
    "release_stock",
    "reservation_for",
    "reserve_stock",
    "seed_demo_products",
]

log = logging.getLogger(__name__)


async def create_product(
    session: AsyncSession, *, sku: str, name: str, price_cents: int, currency: str, stock: int
) -> Product:
    """Raises SkuTaken when another product has the SKU."""
    now = datetime.now(UTC)
    product = await ProductRepository(session).add(
        Product(
            id=new_id("prd"),
            sku=sku,
            name=name,
            price_cents=price_cents,
            currency=currency,
            stock=stock,
            created_at=now,
            updated_at=now,
        )
    )
    log.info("product created", extra={"product_id": product.id, "sku": sku})
    return product


async def change_product(
    session: AsyncSession,
    product_id: str,
    *,
    price_cents: int | None,
    stock_adjustment: int | None,
) -> Product:
    """Raises ProductNotFound, InsufficientStock or StockLimitExceeded."""
    return await ProductRepository(session).change(
        product_id, price_cents=price_cents, stock_adjustment=stock_adjustment
    )


async def get_product(session: AsyncSession, product_id: str) -> Product | None:
    return await ProductRepository(session).by_id(product_id)


async def list_products(
    session: AsyncSession, *, limit: int, after_id: str | None
) -> tuple[list[Product], str | None]:
    """A page of products, oldest first, and the id to continue after (None on the last page)."""
    page = await ProductRepository(session).page(limit=limit + 1, after_id=after_id)
    if len(page) > limit:
        return page[:limit], page[limit - 1].id
    return page, None


async def reservation_for(session: AsyncSession, order_id: str) -> Reservation | None:
    """The order's reservation, if stock was ever reserved for it."""
    reservation = await ReservationRepository(session).by_order(order_id)
    if reservation is None or reservation.status not in ("reserved", "released"):
        return None
    return reservation


async def reserve_stock(session: AsyncSession, event: OrderPlacedV1, context: EventContext) -> None:
    """Reserve every line of a placed order, or none, and say which.

    Once per order: a second placement of an order already decided (or cancelled before its
    placement arrived) changes nothing. The products are locked in id order, checked, and
    only then the decision is recorded and the stock taken, all in the consumer's transaction
    with the `catalog.stock.reserved.v1` / `rejected.v1` event.
    """
    reservations = ReservationRepository(session)
    # The database's time stamps the decision: payments measures its give-up window from
    # reserved_at with the database's clock, not with its own machine's (servicekit.db.clock).
    status, now = await reservations.decision(event.order_id)
    if status is not None:
        log.info(
            "order already decided; placement ignored",
            extra={"order_id": event.order_id, "status": status},
        )
        return
    requested = requested_quantities(event.items)
    repository = ProductRepository(session)
    locked = await repository.lock(list(requested))
    missing = shortfalls(requested, locked, event.currency)
    if missing:
        if await reservations.decide(event.order_id, event.user_id, "rejected", now):
            await context.outbox.append(
                session,
                StockRejectedV1(
                    order_id=event.order_id,
                    user_id=event.user_id,
                    shortfalls=missing,
                    rejected_at=now,
                ),
            )
            log.info("stock rejected", extra={"order_id": event.order_id})
        return
    if not await reservations.reserve(event.order_id, event.user_id, requested, now):
        return  # a concurrent delivery decided first
    await context.outbox.append(
        session,
        StockReservedV1(
            order_id=event.order_id,
            user_id=event.user_id,
            items=[StockLine(product_id=p, quantity=q) for p, q in requested.items()],
            total_cents=event.total_cents,
            currency=event.currency,
            payment_method=event.payment_method,
            reserved_at=now,
            deadline_at=event.deadline_at,
        ),
    )
    log.info("stock reserved", extra={"order_id": event.order_id})


async def release_stock(
    session: AsyncSession, event: OrderCancelledV1, context: EventContext
) -> None:
    """Give a cancelled order's reserved units back, once (`catalog.stock.released.v1`).

    An order never reserved (rejected) or already released changes nothing. An order not seen
    yet is marked voided, so its placement, should it arrive late (from a retry topic), does
    not reserve stock that nobody would ever release.
    """
    reservations = ReservationRepository(session)
    now = datetime.now(UTC)
    status = await reservations.status_of(event.order_id, lock=True)
    if status is None:
        if await reservations.decide(event.order_id, event.user_id, "voided", now):
            log.info("order cancelled before its placement", extra={"order_id": event.order_id})
            return
        # Its placement was being decided concurrently and committed first: look again.
        status = await reservations.status_of(event.order_id, lock=True)
    if status != "reserved":
        log.info("nothing to release", extra={"order_id": event.order_id, "status": status})
        return
    reservation = await reservations.by_order(event.order_id)
    assert reservation is not None
    await ProductRepository(session).give_back(dict(reservation.lines))
    await reservations.mark_released(event.order_id, now)
    await context.outbox.append(
        session,
        StockReleasedV1(
            order_id=event.order_id,
            items=[StockLine(product_id=p, quantity=q) for p, q in reservation.lines],
            released_at=now,
        ),
    )
    log.info("stock released", extra={"order_id": event.order_id, "reason": event.reason})


DEMO_PRODUCTS: tuple[tuple[str, str, int, int], ...] = (
    # sku, name, price in cents, stock
    ("DEMO-MUG", "Flotilla mug", 1290, 100),
    ("DEMO-TEE", "Flotilla T-shirt", 2490, 50),
    ("DEMO-CAP", "Flotilla cap", 1990, 40),
    ("DEMO-STICKERS", "Sticker pack", 490, 500),
    ("DEMO-HOODIE", "Flotilla hoodie", 5490, 20),
    ("DEMO-POSTER", "Signed launch poster", 9900, 1),
)
"""A small demo catalog in EUR; the signed poster has one unit, to watch a sold-out order."""


async def seed_demo_products(session: AsyncSession) -> list[Product]:
    """Create the demo products whose SKU is not taken yet; return the ones created."""
    now = datetime.now(UTC)
    return await ProductRepository(session).add_missing(
        [
            Product(
                id=new_id("prd"),
                sku=sku,
                name=name,
                price_cents=price,
                currency="EUR",
                stock=stock,
                created_at=now,
                updated_at=now,
            )
            for sku, name, price, stock in DEMO_PRODUCTS
        ]
    )
