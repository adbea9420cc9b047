"""catalog's routes: parse, authorize, call a handler, shape the response."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel

from catalog.domain import (
    InsufficientStock,
    Product,
    ProductNotFound,
    Reservation,
    SkuTaken,
    StockLimitExceeded,
)
from catalog.handlers import (
    change_product,
    create_product,
    get_product,
    list_products,
    reservation_for,
)
from catalog.schemas import (
    NewProduct,
    ProductChange,
    ProductOut,
    ProductPage,
    ReservationList,
    ReservationOut,
    StockLineOut,
)
from servicekit import ProblemError, decode_cursor, encode_cursor, is_id
from servicekit.auth import AdminPrincipal
from servicekit.db import ReadSessionDep, SessionDep
from servicekit.idempotency import IdempotentRoute

__all__ = ["router"]

router = APIRouter(route_class=IdempotentRoute)

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
_ADMIN_ONLY: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired token", **_PROBLEM},
    403: {"description": "The token lacks the admin role", **_PROBLEM},
    422: {"description": "Invalid input", **_PROBLEM},
}
_CACHED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `If-None-Match` ETag is current"},
}

ProductId = Annotated[str, Path(max_length=100, description="The product's id (`prd_…`).")]


@router.post(
    "/v1/products",
    operation_id="createProduct",
    status_code=status.HTTP_201_CREATED,
    response_model=ProductOut,
    tags=["products"],
    summary="Add a product (admin)",
    responses={
        **_ADMIN_ONLY,
        409: {"description": "Another product has this SKU", **_PROBLEM},
    },
)
async def add_product(body: NewProduct, admin: AdminPrincipal, session: SessionDep) -> ProductOut:
    try:
        product = await create_product(
            session,
            sku=body.sku,
            name=body.name,
            price_cents=body.price_cents,
            currency=body.currency,
            stock=body.stock,
        )
    except SkuTaken:
        raise ProblemError(
            f"A product with SKU {body.sku!r} already exists.", status=409, slug="sku-taken"
        ) from None
    return _product_out(product)


@router.patch(
    "/v1/products/{product_id}",
    operation_id="updateProduct",
    response_model=ProductOut,
    tags=["products"],
    summary="Change a product's price or adjust its stock (admin)",
    responses={
        **_ADMIN_ONLY,
        404: {"description": "No such product", **_PROBLEM},
        409: {"description": "The adjustment would take the stock below zero", **_PROBLEM},
    },
)
async def patch_product(
    product_id: ProductId, body: ProductChange, admin: AdminPrincipal, session: SessionDep
) -> ProductOut:
    _known_id(product_id)
    try:
        product = await change_product(
            session,
            product_id,
            price_cents=body.price_cents,
            stock_adjustment=body.stock_adjustment,
        )
    except ProductNotFound:
        raise _not_found() from None
    except InsufficientStock:
        raise ProblemError(
            "The adjustment would take the stock below zero.",
            status=409,
            slug="insufficient-stock",
        ) from None
    except StockLimitExceeded:
        raise ProblemError(
            "The adjustment would take the stock above the limit.",
            status=409,
            slug="stock-limit-exceeded",
        ) from None
    return _product_out(product)


@router.get(
    "/v1/products",
    operation_id="listProducts",
    response_model=ProductPage,
    tags=["products"],
    summary="Every product, page by page (public)",
    responses={
        **_CACHED,
        400: {"description": "The cursor is not one this API returned", **_PROBLEM},
        422: {"description": "Invalid query parameters", **_PROBLEM},
    },
)
async def products_page(
    request: Request,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` from the previous page.")
    ] = None,
) -> Response:
    after_id = decode_cursor(cursor, "prd") if cursor is not None else None
    page, last_id = await list_products(session, limit=limit, after_id=after_id)
    return _cacheable(
        request,
        ProductPage(
            items=[_product_out(product) for product in page],
            next_cursor=encode_cursor(last_id) if last_id is not None else None,
        ),
    )


@router.get(
    "/v1/products/{product_id}",
    operation_id="getProduct",
    response_model=ProductOut,
    tags=["products"],
    summary="One product (public)",
    responses={**_CACHED, 404: {"description": "No such product", **_PROBLEM}},
)
async def product(product_id: ProductId, request: Request, session: ReadSessionDep) -> Response:
    _known_id(product_id)
    found = await get_product(session, product_id)
    if found is None:
        raise _not_found()
    return _cacheable(request, _product_out(found))


@router.get(
    "/v1/reservations",
    operation_id="listReservations",
    response_model=ReservationList,
    tags=["reservations"],
    summary="The stock reserved for an order (admin)",
    responses=_ADMIN_ONLY,
)
async def reservations(
    admin: AdminPrincipal,
    session: SessionDep,
    order_id: Annotated[str, Query(min_length=1, max_length=100, description="`ord_…`")],
) -> ReservationList:
    reservation = await reservation_for(session, order_id)
    return ReservationList(items=[_reservation_out(reservation)] if reservation else [])


def _cacheable(request: Request, body: BaseModel) -> Response:
    """The body with a strong ETag (a hash of its bytes) and Cache-Control; 304 when the
    client's `If-None-Match` names the current ETag."""
    content = body.model_dump_json().encode()
    etag = f'"{hashlib.sha256(content).hexdigest()[:32]}"'
    max_age = request.app.state.settings.product_max_age_s
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content, media_type="application/json", headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison, `*` matches any current representation."""
    if not if_none_match:
        return False
    candidates = [candidate.strip() for candidate in if_none_match.split(",")]
    return "*" in candidates or etag in (c.removeprefix("W/") for c in candidates)


def _known_id(product_id: str) -> None:
    if not is_id(product_id, "prd"):
        raise _not_found()


def _not_found() -> ProblemError:
    return ProblemError("No product has this id.", status=404, slug="product-not-found")


def _product_out(product: Product) -> ProductOut:
    return ProductOut(
        id=product.id,
        sku=product.sku,
        name=product.name,
        price_cents=product.price_cents,
        currency=product.currency,
        stock=product.stock,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


def _reservation_out(reservation: Reservation) -> ReservationOut:
    assert reservation.reserved_at is not None  # reservation_for returns reserved stock only
    return ReservationOut(
        order_id=reservation.order_id,
        items=[StockLineOut(product_id=p, quantity=q) for p, q in reservation.lines],
        status="released" if reservation.status == "released" else "reserved",
        reserved_at=reservation.reserved_at,
        released_at=reservation.released_at,
    )
