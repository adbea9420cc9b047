"""psp's use cases. They take a unit of work's session and never commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from psp.domain import (
    Charge,
    ChargeNotFound,
    ChargeNotRefundable,
    ChargeRequest,
    Faults,
    IdempotencyKeyReused,
    Refund,
    RefundRequest,
    UnknownPaymentMethod,
    decide,
)
from psp.repository import ChargeRepository, FaultRepository, RefundRepository
from servicekit import new_id
from servicekit.db import Database

__all__ = [
    "ChargeAnswer",
    "InjectedError",
    "Outage",
    "RefundAnswer",
    "answer_lost",
    "apply_faults",
    "create_charge",
    "create_refund",
    "current_faults",
    "set_faults",
]

log = logging.getLogger(__name__)

Render = Callable[[Charge], tuple[int, bytes]]
"""A charge's first answer to its key: status and body."""
RenderRefund = Callable[[Refund], tuple[int, bytes]]
"""A refund's first answer to its key: status and body."""


class Outage(Exception):
    """The `outage` knob is on."""


class InjectedError(Exception):
    """This request drew an error from the `error_rate` knob."""


@dataclass(frozen=True)
class ChargeAnswer:
    charge: Charge
    replayed: bool
    """True when the key already had a charge: this is its first answer again."""


@dataclass(frozen=True)
class RefundAnswer:
    refund: Refund
    replayed: bool
    """True when the key already had a refund: this is its first answer again."""


async def current_faults(database: Database) -> Faults:
    """Read by one statement of its own (in autocommit), so no connection is held while a
    latency fault makes the request wait."""
    async with database.reads() as session:
        return await FaultRepository(session).get()


async def apply_faults(
    faults: Faults,
    roll: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """What a misbehaving provider does before it records anything: raises Outage or
    InjectedError, or waits `latency_ms` (the request's deadline still cuts the wait short)."""
    if faults.outage:
        raise Outage
    if faults.error_rate > 0 and roll() < faults.error_rate:
        raise InjectedError
    if faults.latency_ms > 0:
        await sleep(faults.latency_ms / 1000)


def answer_lost(faults: Faults, roll: Callable[[], float]) -> bool:
    """Whether this request's answer is lost (`lose_answer_rate`) after its charge or refund was
    recorded: the caller gets a 500 and only a retry with its key tells it what happened."""
    return faults.lose_answer_rate > 0 and roll() < faults.lose_answer_rate


async def create_charge(
    session: AsyncSession,
    account: str,
    idempotency_key: str,
    request: ChargeRequest,
    faults: Faults,
    *,
    render: Render,
    roll: Callable[[], float],
) -> ChargeAnswer:
    """Charge once per idempotency key of the account. A key seen before (with the same
    request) answers with its charge's stored first answer; with another request it raises
    IdempotencyKeyReused. An unknown payment method raises UnknownPaymentMethod and records
    nothing. A decline is recorded as a failed charge whose first answer is the 402.

    The charge is inserted unless its key has one, and the key's charge read only when it had:
    one statement for a new charge (in autocommit, one round trip), two for a retry, whose
    decision is drawn and dropped."""
    repository = ChargeRepository(session)
    fingerprint = request.fingerprint()
    try:
        decision = decide(request, faults, roll)
    except UnknownPaymentMethod:
        existing = await repository.by_key(account, idempotency_key)
        if existing is not None:  # the key's charge was for another request
            return _replay(existing, fingerprint)
        raise
    unsaved = Charge(
        id=new_id("ch"),
        account=account,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        amount=request.amount,
        currency=request.currency,
        payment_method=request.payment_method,
        reference=request.reference,
        status=decision.status,
        decline_code=decision.decline_code,
        response_status=0,
        response_body=b"",
        created_at=datetime.now(UTC),
    )
    status, body = render(unsaved)
    stored, created = await repository.add_once(
        replace(unsaved, response_status=status, response_body=body)
    )
    if not created:  # a concurrent request with the same key won
        return _replay(stored, fingerprint)
    log.info(
        "charge %s",
        stored.status,
        extra={"charge_id": stored.id, "reference": stored.reference, "account": account},
    )
    return ChargeAnswer(stored, replayed=False)


async def create_refund(
    session: AsyncSession,
    account: str,
    idempotency_key: str,
    request: RefundRequest,
    *,
    render: RenderRefund,
) -> RefundAnswer:
    """Refund a succeeded charge of the account in full, once per idempotency key of the
    account and once per charge. A key
    seen before (with the same charge) answers with its refund's stored first answer; with
    another charge it raises IdempotencyKeyReused. An unknown charge raises ChargeNotFound; a
    charge that did not succeed, or is already refunded under another key, raises
    ChargeNotRefundable. Neither is recorded: asking again re-checks."""
    refunds = RefundRepository(session)
    fingerprint = request.fingerprint()
    existing = await refunds.by_key(account, idempotency_key)
    if existing is not None:
        return _replay_refund(existing, fingerprint)
    charge = await ChargeRepository(session).by_id(account, request.charge_id)
    if charge is None:
        raise ChargeNotFound(request.charge_id)
    if charge.status != "succeeded":
        raise ChargeNotRefundable(charge.id, already_refunded=False)
    unsaved = Refund(
        id=new_id("re"),
        account=account,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        charge_id=charge.id,
        amount=charge.amount,
        currency=charge.currency,
        response_status=0,
        response_body=b"",
        created_at=datetime.now(UTC),
    )
    status, body = render(unsaved)
    stored = await refunds.add_once(replace(unsaved, response_status=status, response_body=body))
    if stored is None:  # the key or the charge already has a refund (maybe a concurrent one)
        existing = await refunds.by_key(account, idempotency_key)
        if existing is not None:
            return _replay_refund(existing, fingerprint)
        raise ChargeNotRefundable(charge.id, already_refunded=True)
    log.info(
        "charge refunded",
        extra={"charge_id": charge.id, "refund_id": stored.id, "reference": charge.reference},
    )
    return RefundAnswer(stored, replayed=False)


def _replay_refund(refund: Refund, fingerprint: str) -> RefundAnswer:
    if refund.fingerprint != fingerprint:
        raise IdempotencyKeyReused(refund.idempotency_key)
    return RefundAnswer(refund, replayed=True)


async def set_faults(session: AsyncSession, faults: Faults) -> Faults:
    stored = await FaultRepository(session).set(faults)
    log.warning("psp faults set", extra={"faults": str(stored)})
    return stored


def _replay(charge: Charge, fingerprint: str) -> ChargeAnswer:
    if charge.fingerprint != fingerprint:
        raise IdempotencyKeyReused(charge.idempotency_key)
    return ChargeAnswer(charge, replayed=True)
