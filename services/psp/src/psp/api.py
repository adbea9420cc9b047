"""psp's routes: parse, authorize, call a handler, shape the response."""

from __future__ import annotations

import json
import random
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status

from psp.domain import (
    Charge,
    ChargeRequest,
    Faults,
    IdempotencyKeyReused,
    KeyBusy,
    UnknownPaymentMethod,
)
from psp.handlers import (
    InjectedError,
    Outage,
    apply_faults,
    create_charge,
    current_faults,
    set_faults,
)
from psp.metrics import CHARGES
from psp.repository import ChargeRepository, FaultRepository
from psp.schemas import ChargeIn, ChargeOut, ChargePage, FaultsIn, FaultsOut
from psp.settings import PspSettings
from servicekit.auth.dependencies import AdminPrincipal
from servicekit.db.engine import Database
from servicekit.db.session import SessionDep, get_database
from servicekit.errors import PROBLEM_JSON, ProblemError, problem_body
from servicekit.idempotency import REPLAYED_HEADER, IdempotentRoute, idempotency_exempt

__all__ = ["admin_router", "router"]

router = APIRouter(tags=["charges"])
admin_router = APIRouter(tags=["faults"], route_class=IdempotentRoute)

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
_MAX_KEY_LENGTH = 255

DatabaseDep = Annotated[Database, Depends(get_database)]


def _roll() -> float:
    return random.random()  # noqa: S311 - simulated fault odds, not cryptography


def _settings(request: Request) -> PspSettings:
    settings: PspSettings = request.app.state.settings
    return settings


@router.post(
    "/v1/charges",
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
        409: {"description": "A request with this key is still in progress", **_PROBLEM},
        422: {"description": "Unknown payment method, invalid body or key reused", **_PROBLEM},
        500: {"description": "An injected error (`error_rate`); nothing recorded", **_PROBLEM},
        503: {"description": "An injected outage; nothing recorded", **_PROBLEM},
    },
)
async def charge(
    body: ChargeIn,
    request: Request,
    session: SessionDep,
    database: DatabaseDep,
    idempotency_key: Annotated[
        str | None,
        Header(description="Unique per intended charge (a UUID), reused when retrying it."),
    ] = None,
) -> Response:
    key = _checked_key(idempotency_key)
    faults = await current_faults(database)
    try:
        await apply_faults(faults, _roll)
    except Outage:
        CHARGES.labels("outage").inc()
        retry_after = str(_settings(request).outage_retry_after_s)
        raise ProblemError(
            "The payment provider is unavailable.",
            status=503,
            slug="provider-unavailable",
            headers={"Retry-After": retry_after},
        ) from None
    except InjectedError:
        CHARGES.labels("error").inc()
        raise ProblemError(
            "The payment provider failed to process the charge.",
            status=500,
            slug="provider-error",
        ) from None
    try:
        answer = await create_charge(
            session,
            key,
            ChargeRequest(body.amount, body.currency, body.payment_method, body.reference),
            faults,
            render=_first_answer,
            roll=_roll,
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
    response_model=ChargePage,
    summary="The charges made for a reference, oldest first",
    responses={422: {"description": "Invalid query parameters", **_PROBLEM}},
)
async def charges_for_reference(
    session: SessionDep,
    reference: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> ChargePage:
    found = await ChargeRepository(session).by_reference(reference, limit=limit)
    return ChargePage(items=[_charge_out(charge) for charge in found])


@router.get(
    "/v1/charges/{charge_id}",
    response_model=ChargeOut,
    summary="One charge",
    responses={404: {"description": "No such charge", **_PROBLEM}},
)
async def one_charge(
    session: SessionDep, charge_id: Annotated[str, Path(max_length=40)]
) -> ChargeOut:
    found = await ChargeRepository(session).by_id(charge_id)
    if found is None:
        raise ProblemError("No such charge.", status=404, slug="charge-not-found")
    return _charge_out(found)


_ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired token", **_PROBLEM},
    403: {"description": "The token lacks the admin role", **_PROBLEM},
}


@admin_router.get(
    "/v1/admin/faults",
    response_model=FaultsOut,
    summary="The fault knobs",
    responses=_ADMIN_RESPONSES,
)
async def get_faults(_: AdminPrincipal, session: SessionDep) -> FaultsOut:
    return _faults_out(await FaultRepository(session).get())


@admin_router.put(
    "/v1/admin/faults",
    response_model=FaultsOut,
    summary="Set every fault knob (an omitted knob is off)",
    description="Read by every replica on each charge request, so it applies at once.",
    responses={**_ADMIN_RESPONSES, 422: {"description": "Invalid knobs", **_PROBLEM}},
)
async def put_faults(body: FaultsIn, _: AdminPrincipal, session: SessionDep) -> FaultsOut:
    wanted = Faults(body.latency_ms, body.error_rate, body.decline_rate, body.outage)
    return _faults_out(await set_faults(session, wanted))


@admin_router.delete(
    "/v1/admin/faults",
    response_model=FaultsOut,
    summary="Turn every fault knob off",
    responses=_ADMIN_RESPONSES,
)
async def reset_faults(_: AdminPrincipal, session: SessionDep) -> FaultsOut:
    return _faults_out(await set_faults(session, Faults()))


def _checked_key(key: str | None) -> str:
    if key is None:
        raise ProblemError(
            "An Idempotency-Key header is required: a unique value (a UUID) per intended charge, "
            "reused when retrying it.",
            status=400,
            slug="idempotency-key-missing",
        )
    if not 0 < len(key) <= _MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ProblemError(
            f"The Idempotency-Key must be 1 to {_MAX_KEY_LENGTH} printable ASCII characters.",
            status=400,
            slug="idempotency-key-invalid",
        )
    return key


def _first_answer(charge: Charge) -> tuple[int, bytes]:
    """The answer stored with the charge and given again to every retry with its key."""
    if charge.status == "succeeded":
        return 201, _charge_out(charge).model_dump_json().encode()
    body = problem_body(
        402,
        "The card was declined.",
        slug="card-declined",
        instance="/v1/charges",
        extensions={"decline_code": charge.decline_code, "charge_id": charge.id},
    )
    return 402, json.dumps(body).encode()


def _charge_out(charge: Charge) -> ChargeOut:
    return ChargeOut(
        id=charge.id,
        amount=charge.amount,
        currency=charge.currency,
        payment_method=charge.payment_method,
        reference=charge.reference,
        status=charge.status,
        decline_code=charge.decline_code,
        created_at=charge.created_at,
    )


def _faults_out(faults: Faults) -> FaultsOut:
    return FaultsOut(
        latency_ms=faults.latency_ms,
        error_rate=faults.error_rate,
        decline_rate=faults.decline_rate,
        outage=faults.outage,
    )
