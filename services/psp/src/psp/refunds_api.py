"""psp's refund route: a full refund of a succeeded charge, once per Idempotency-Key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response, status

from psp.accounts import MerchantAccount
from psp.answers import PROBLEM, checked_key, lost_answer, raise_injected_faults, refund_out
from psp.domain import (
    ChargeNotFound,
    ChargeNotRefundable,
    IdempotencyKeyReused,
    KeyBusy,
    Refund,
    RefundRequest,
)
from psp.handlers import create_refund, current_faults
from psp.metrics import REFUNDS
from psp.schemas import RefundIn, RefundOut
from servicekit.db.engine import Database
from servicekit.db.session import SessionDep, get_database
from servicekit.errors import ProblemError
from servicekit.idempotency import REPLAYED_HEADER, idempotency_exempt

__all__ = ["refunds_router"]

refunds_router = APIRouter(tags=["refunds"])

DatabaseDep = Annotated[Database, Depends(get_database)]


@refunds_router.post(
    "/v1/refunds",
    operation_id="createRefund",
    status_code=status.HTTP_201_CREATED,
    response_model=RefundOut,
    summary="Refund a succeeded charge in full",
    description=(
        "Once per `Idempotency-Key` and once per charge: a retry with the same key and body gets "
        "the first answer again with `Idempotent-Replayed: true`. The charge then shows "
        "`refunded: true` and its refund."
    ),
    openapi_extra=idempotency_exempt("psp keeps its own idempotency keys on the refunds"),
    responses={
        400: {"description": "No or an unusable Idempotency-Key", **PROBLEM},
        401: {"description": "No valid secret API key", **PROBLEM},
        404: {"description": "No such charge (or another account's)", **PROBLEM},
        409: {
            "description": "The charge did not succeed, is already refunded under another key, "
            "or a request with this key is still in progress",
            **PROBLEM,
        },
        422: {"description": "Invalid body, or the key was used for another refund", **PROBLEM},
        500: {
            "description": "An injected error (`error_rate`): nothing recorded; or a lost "
            "answer (`lose_answer_rate`): recorded, a retry with the key gets the answer",
            **PROBLEM,
        },
        503: {"description": "An injected outage; nothing recorded", **PROBLEM},
    },
)
async def refund(
    body: RefundIn,
    account: MerchantAccount,
    request: Request,
    session: SessionDep,
    database: DatabaseDep,
    idempotency_key: Annotated[
        str | None,
        Header(description="Unique per intended refund, reused when retrying it."),
    ] = None,
) -> Response:
    key = checked_key(idempotency_key, what="refund")
    faults = await current_faults(database)
    await raise_injected_faults(
        faults, request, lambda outcome: REFUNDS.labels(outcome).inc(), what="refund"
    )
    try:
        answer = await create_refund(
            session, account, key, RefundRequest(body.charge_id), render=_first_answer
        )
    except ChargeNotFound:
        REFUNDS.labels("not_found").inc()
        raise ProblemError("No such charge.", status=404, slug="charge-not-found") from None
    except ChargeNotRefundable as error:
        REFUNDS.labels("not_refundable").inc()
        if error.already_refunded:
            raise ProblemError(
                "The charge is already refunded (under another Idempotency-Key).",
                status=409,
                slug="charge-already-refunded",
            ) from None
        raise ProblemError(
            "Only a succeeded charge can be refunded.",
            status=409,
            slug="charge-not-refundable",
        ) from None
    except IdempotencyKeyReused:
        REFUNDS.labels("key_reused").inc()
        raise ProblemError(
            "This Idempotency-Key was already used for a different refund; use a new key for a "
            "new refund.",
            status=422,
            slug="idempotency-key-reused",
        ) from None
    except KeyBusy:
        raise ProblemError(
            "A refund with this Idempotency-Key or of this charge is still in progress; retry "
            "shortly.",
            status=409,
            slug="idempotency-key-in-progress",
            headers={"Retry-After": "1"},
        ) from None
    lost = lost_answer(faults, "/v1/refunds")
    if lost is not None:
        REFUNDS.labels("answer_lost").inc()
        return lost
    REFUNDS.labels("replayed" if answer.replayed else "succeeded").inc()
    stored = answer.refund
    return Response(
        stored.response_body,
        status_code=stored.response_status,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true"} if answer.replayed else None,
    )


def _first_answer(refund: Refund) -> tuple[int, bytes]:
    return 201, refund_out(refund).model_dump_json().encode()
