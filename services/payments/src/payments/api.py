"""payments' routes: parse, authorize, call a handler, shape the response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from payments.domain import Payment
from payments.handlers import payments_for_order
from payments.schemas import PaymentOut, PaymentPage
from servicekit.auth.dependencies import CurrentPrincipal
from servicekit.db.session import SessionDep

__all__ = ["router"]

router = APIRouter()

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


@router.get(
    "/v1/payments",
    operation_id="listOrderPayments",
    response_model=PaymentPage,
    tags=["payments"],
    summary="An order's payments: the caller's own, or anyone's for an admin",
    responses={
        401: {"description": "Missing, invalid or expired token", **_PROBLEM},
        422: {"description": "Invalid query parameters", **_PROBLEM},
    },
)
async def order_payments(
    principal: CurrentPrincipal,
    session: SessionDep,
    order_id: Annotated[str, Query(min_length=1, max_length=200, description="`ord_…`")],
) -> PaymentPage:
    found = await payments_for_order(
        session, order_id, user_id=None if principal.has_role("admin") else principal.subject
    )
    return PaymentPage(items=[_payment_out(payment) for payment in found])


def _payment_out(payment: Payment) -> PaymentOut:
    return PaymentOut(
        id=payment.id,
        order_id=payment.order_id,
        user_id=payment.user_id,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        status=payment.status,
        reason=payment.reason,
        charge_id=payment.charge_id,
        attempts=payment.attempts,
        created_at=payment.created_at,
        updated_at=payment.updated_at,
        refund_status=payment.refund_status,
        refund_id=payment.refund_id,
        refunded_at=payment.refunded_at,
    )
