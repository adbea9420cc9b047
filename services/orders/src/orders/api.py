"""orders' routes: parse, authorize, call a handler, shape the response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from orders.domain import (
    MixedCurrencies,
    Order,
    RequestedLine,
    TotalTooLarge,
    UnknownProducts,
)
from orders.handlers import PriceSource, get_order, list_orders, place_order
from orders.schemas import HistoryOut, NewOrder, OrderAccepted, OrderLineOut, OrderOut, OrderPage
from orders.settings import OrdersSettings
from servicekit import ProblemError, decode_cursor, encode_cursor
from servicekit.auth import CurrentPrincipal, Principal
from servicekit.db import ReadSessionDep, SessionDep
from servicekit.events import OutboxDep
from servicekit.idempotency import IdempotentRoute

__all__ = ["router"]

router = APIRouter(route_class=IdempotentRoute)

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


# The dependencies are `async` although they never await: FastAPI runs a plain `def` one in its
# thread pool, a thread hand-off per request for an attribute read.
async def _prices(request: Request) -> PriceSource:
    prices: PriceSource = request.app.state.prices
    return prices


async def _settings(request: Request) -> OrdersSettings:
    settings: OrdersSettings = request.app.state.settings
    return settings


@router.post(
    "/v1/orders",
    operation_id="createOrder",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OrderAccepted,
    tags=["orders"],
    summary="Place an order",
    description="Accepted as `pending`: stock and payment follow asynchronously. Poll the "
    "order at `Location` until its status is final (confirmed, cancelled or rejected).",
    responses={
        401: {"description": "Missing, invalid or expired token", **_PROBLEM},
        422: {"description": "Invalid order, unknown products or mixed currencies", **_PROBLEM},
        503: {"description": "catalog cannot tell the prices now; retry later", **_PROBLEM},
    },
)
async def place(
    body: NewOrder,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    session: SessionDep,
    outbox: OutboxDep,
    prices: Annotated[PriceSource, Depends(_prices)],
    settings: Annotated[OrdersSettings, Depends(_settings)],
) -> OrderAccepted:
    try:
        order = await place_order(
            session,
            outbox,
            prices,
            user_id=principal.subject,
            email=_email(principal),
            lines=[RequestedLine(line.product_id, line.quantity) for line in body.items],
            payment_method=body.payment_method,
            deadline_s=settings.order_deadline_s,
        )
    except UnknownProducts as error:
        raise ProblemError(
            "The catalog has no product with some of these ids.",
            status=422,
            slug="unknown-product",
            extensions={"product_ids": list(error.product_ids)},
        ) from None
    except MixedCurrencies as error:
        raise ProblemError(
            "The products are priced in different currencies; order them separately.",
            status=422,
            slug="mixed-currencies",
            extensions={"currencies": list(error.currencies)},
        ) from None
    except TotalTooLarge:
        raise ProblemError(
            "The order's total is too large.", status=422, slug="total-too-large"
        ) from None
    path = request.app.url_path_for("read_order", order_id=order.id)
    response.headers["Location"] = f"{settings.root_path}{path}"
    return OrderAccepted(id=order.id)


@router.get(
    "/v1/orders/{order_id}",
    operation_id="getOrder",
    name="read_order",
    response_model=OrderOut,
    tags=["orders"],
    summary="One of the signed-in user's orders",
    responses={
        401: {"description": "Missing, invalid or expired token", **_PROBLEM},
        404: {"description": "No such order among the user's", **_PROBLEM},
    },
)
async def read_order(
    order_id: Annotated[str, Path(max_length=40)],
    principal: CurrentPrincipal,
    session: ReadSessionDep,
) -> OrderOut:
    order = await get_order(session, order_id, principal.subject)
    if order is None:
        raise ProblemError("No such order.", status=404, slug="order-not-found")
    return _order_out(order)


@router.get(
    "/v1/orders",
    operation_id="listMyOrders",
    response_model=OrderPage,
    tags=["orders"],
    summary="The signed-in user's orders, newest first",
    responses={
        400: {"description": "The cursor is not one this API returned", **_PROBLEM},
        401: {"description": "Missing, invalid or expired token", **_PROBLEM},
        422: {"description": "Invalid query parameters", **_PROBLEM},
    },
)
async def my_orders(
    principal: CurrentPrincipal,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="`next_cursor` from the previous page."),
    ] = None,
) -> OrderPage:
    before_id = decode_cursor(cursor, "ord") if cursor is not None else None
    page, last_id = await list_orders(session, principal.subject, limit=limit, before_id=before_id)
    return OrderPage(
        items=[_order_out(order) for order in page],
        next_cursor=encode_cursor(last_id) if last_id is not None else None,
    )


def _email(principal: Principal) -> str:
    """The address the order's emails go to: the token's `email` claim (identity's tokens
    always carry one)."""
    email = principal.claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise ProblemError(
            "The bearer token carries no email address.",
            status=401,
            slug="invalid-token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return email


def _order_out(order: Order) -> OrderOut:
    return OrderOut(
        id=order.id,
        status=order.status.value,
        items=[
            OrderLineOut(
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price_cents=line.unit_price_cents,
            )
            for line in order.lines
        ],
        total_cents=order.total_cents,
        currency=order.currency,
        payment_method=order.payment_method,
        reason=order.reason,
        created_at=order.created_at,
        updated_at=order.updated_at,
        deadline_at=order.deadline_at,
        history=[
            HistoryOut(status=entry.status.value, at=entry.at, cause=entry.cause)
            for entry in order.history
        ],
    )
