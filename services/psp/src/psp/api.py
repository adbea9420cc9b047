"""psp's routes: parse, authorize, call a handler, shape the response."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status

from psp.accounts import MerchantAccount
from psp.answers import (
    PROBLEM,
    charge_out,
    checked_key,
    lost_answer,
    raise_injected_faults,
    roll,
)
from psp.domain import (
    Charge,
    ChargeRequest,
    Faults,
    IdempotencyKeyReused,
    KeyBusy,
    UnknownPaymentMethod,
)
from psp.handlers import create_charge, current_faults, set_faults
from psp.metrics import CHARGE_LOOKUPS, CHARGES
from psp.repository import ChargeRepository, FaultRepository, RefundRepository
from psp.schemas import ChargeIn, ChargeOut, ChargePage, FaultsIn, FaultsOut
from servicekit import PROBLEM_JSON, ProblemError, problem_body
from servicekit.auth import AdminPrincipal
from servicekit.db import Database, SessionDep, get_database
from servicekit.idempotency import REPLAYED_HEADER, IdempotentRoute, idempotency_exempt

__all__ = ["admin_router", "router"]

router = APIRouter(tags=["charges"])
admin_router = APIRouter(tags=["faults"], route_class=IdempotentRoute)

_PROBLEM = PROBLEM
_UNAUTHENTICATED: dict[str, Any] = {
    "description": "No valid secret API key (`Authorization: Bearer sk_test_…`)",
    **_PROBLEM,
}

DatabaseDep = Annotated[Database, Depends(get_database)]


@router.post(
    "/v1/charges",
    operation_id="createCharge",
    status_code=status.HTTP_201_CREATED,
    response_model=ChargeOut,
    summary="Charge a payment method",
    description=(
        "Once per `Idempotency-Key`: a retry with the same key and body gets the first answer "
        "again (a 201 or a 402) with `Idempotent-Replayed: true`."
    ),
    # The provider stands for the outside world: its keys are its own, held by the charge.
    openapi_extra=idempotency_exempt("psp keeps its own idempotency keys on the charges"),
    responses={
        400: {"description": "No or an unusable Idempotency-Key", **_PROBLEM},
        402: {"description": "Declined (`decline_code`); recorded as a failed charge", **_PROBLEM},
        401: _UNAUTHENTICATED,
        409: {"description": "A request with this key is still in progress", **_PROBLEM},
        422: {"description": "Unknown payment method, invalid body or key reused", **_PROBLEM},
        500: {
            "description": "An injected error (`error_rate`): nothing recorded; or a lost "
            "answer (`lose_answer_rate`): recorded, a retry with the key gets the answer",
            **_PROBLEM,
        },
        503: {"description": "An injected outage; nothing recorded", **_PROBLEM},
    },
)
async def charge(
    body: ChargeIn,
    account: MerchantAccount,
    request: Request,
    database: DatabaseDep,
    idempotency_key: Annotated[
        str | None,
        Header(description="Unique per intended charge (a UUID), reused when retrying it."),
    ] = None,
) -> Response:
    key = checked_key(idempotency_key, what="charge")
    faults = await current_faults(database)
    await raise_injected_faults(
        faults, request, lambda outcome: CHARGES.labels(outcome).inc(), what="charge"
    )
    try:
        # A charge is one row, right statement by statement: no BEGIN and COMMIT round trips.
        async with database.standalone() as session:
            answer = await create_charge(
                session,
                account,
                key,
                ChargeRequest(body.amount, body.currency, body.payment_method, body.reference),
                faults,
                render=_first_answer,
                roll=roll,
            )
    except UnknownPaymentMethod:
        CHARGES.labels("rejected").inc()
        raise ProblemError(
            f"Unknown payment method {body.payment_method!r}.",
            status=422,
            slug="unknown-payment-method",
        ) from None
    except IdempotencyKeyReused:
        CHARGES.labels("key_reused").inc()
        raise ProblemError(
            "This Idempotency-Key was already used for a different charge; use a new key for a "
            "new charge.",
            status=422,
            slug="idempotency-key-reused",
        ) from None
    except KeyBusy:
        raise ProblemError(
            "A charge with this Idempotency-Key is still in progress; retry shortly.",
            status=409,
            slug="idempotency-key-in-progress",
            headers={"Retry-After": "1"},
        ) from None
    stored = answer.charge
    lost = lost_answer(faults, "/v1/charges")
    if lost is not None:
        CHARGES.labels("answer_lost").inc()
        return lost
    if answer.replayed:
        CHARGES.labels("replayed").inc()
    else:
        CHARGES.labels("succeeded" if stored.status == "succeeded" else "declined").inc()
    return Response(
        stored.response_body,
        status_code=stored.response_status,
        media_type="application/json" if stored.response_status < 400 else PROBLEM_JSON,
        headers={REPLAYED_HEADER: "true"} if answer.replayed else None,
    )


@router.get(
    "/v1/charges",
    operation_id="listCharges",
    response_model=ChargePage,
    summary="The charges made for a reference, oldest first, or the one made under a key",
    description=(
        "Give exactly one of `reference` and `idempotency_key`. By key, the page holds the "
        "charge made under it, or nothing: how a caller whose answer was lost finds out whether "
        "it was charged. The look-up by key is part of the API clients call, so the fault knobs "
        "(outage, errors, latency) apply to it as to charges; the listing by reference, like a "
        "provider's dashboard, stays readable."
    ),
    responses={
        401: _UNAUTHENTICATED,
        422: {"description": "Invalid query parameters", **_PROBLEM},
        500: {"description": "An injected error (`error_rate`), on a look-up by key", **_PROBLEM},
        503: {"description": "An injected outage, on a look-up by key", **_PROBLEM},
    },
)
async def find_charges(
    account: MerchantAccount,
    request: Request,
    session: SessionDep,
    database: DatabaseDep,
    reference: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    idempotency_key: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> ChargePage:
    charges = ChargeRepository(session)
    if (reference is None) == (idempotency_key is None):
        raise ProblemError(
            "Give exactly one of the query parameters reference and idempotency_key.",
            status=422,
            slug="invalid-query",
        )
    if idempotency_key is not None:
        await raise_injected_faults(
            await current_faults(database),
            request,
            lambda outcome: CHARGE_LOOKUPS.labels(outcome).inc(),
            what="look-up",
        )
        by_key = await charges.by_key(account, idempotency_key)
        CHARGE_LOOKUPS.labels("none" if by_key is None else "found").inc()
        found = [by_key] if by_key is not None else []
    else:
        assert reference is not None
        found = await charges.by_reference(account, reference, limit=limit)
    refunds = await RefundRepository(session).for_charges([charge.id for charge in found])
    return ChargePage(items=[charge_out(charge, refunds.get(charge.id)) for charge in found])


@router.get(
    "/v1/charges/{charge_id}",
    operation_id="getCharge",
    response_model=ChargeOut,
    summary="One charge",
    responses={
        401: _UNAUTHENTICATED,
        404: {"description": "No such charge (or another account's)", **_PROBLEM},
    },
)
async def one_charge(
    account: MerchantAccount, session: SessionDep, charge_id: Annotated[str, Path(max_length=40)]
) -> ChargeOut:
    found = await ChargeRepository(session).by_id(account, charge_id)
    if found is None:
        raise ProblemError("No such charge.", status=404, slug="charge-not-found")
    refunds = await RefundRepository(session).for_charges([found.id])
    return charge_out(found, refunds.get(found.id))


_ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired token", **_PROBLEM},
    403: {"description": "The token lacks the admin role", **_PROBLEM},
}


@admin_router.get(
    "/v1/admin/faults",
    operation_id="getFaults",
    response_model=FaultsOut,
    summary="The fault knobs",
    responses=_ADMIN_RESPONSES,
)
async def get_faults(_: AdminPrincipal, session: SessionDep) -> FaultsOut:
    return _faults_out(await FaultRepository(session).get())


@admin_router.put(
    "/v1/admin/faults",
    operation_id="setFaults",
    response_model=FaultsOut,
    summary="Set every fault knob (an omitted knob is off)",
    description="Read by every replica on each charge request, so it applies at once.",
    responses={**_ADMIN_RESPONSES, 422: {"description": "Invalid knobs", **_PROBLEM}},
)
async def put_faults(body: FaultsIn, _: AdminPrincipal, session: SessionDep) -> FaultsOut:
    wanted = Faults(
        body.latency_ms, body.error_rate, body.decline_rate, body.outage, body.lose_answer_rate
    )
    return _faults_out(await set_faults(session, wanted))


@admin_router.delete(
    "/v1/admin/faults",
    operation_id="resetFaults",
    response_model=FaultsOut,
    summary="Turn every fault knob off",
    responses=_ADMIN_RESPONSES,
)
async def reset_faults(_: AdminPrincipal, session: SessionDep) -> FaultsOut:
    return _faults_out(await set_faults(session, Faults()))


def _first_answer(charge: Charge) -> tuple[int, bytes]:
    """The answer stored with the charge and given again to every retry with its key."""
    if charge.status == "succeeded":
        return 201, charge_out(charge).model_dump_json().encode()
    body = problem_body(
        402,
        "The card was declined.",
        slug="card-declined",
        instance="/v1/charges",
        extensions={"decline_code": charge.decline_code, "charge_id": charge.id},
    )
    return 402, json.dumps(body).encode()


def _faults_out(faults: Faults) -> FaultsOut:
    return FaultsOut(
        latency_ms=faults.latency_ms,
        error_rate=faults.error_rate,
        decline_rate=faults.decline_rate,
        outage=faults.outage,
        lose_answer_rate=faults.lose_answer_rate,
    )
