"""What charges and refunds answer alike: the Idempotency-Key check, the injected faults as
problems, a lost answer, and a charge as the API shows it."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from fastapi import Request, Response

from psp.domain import Charge, Faults, Refund
from psp.handlers import InjectedError, Outage, answer_lost, apply_faults
from psp.schemas import ChargeOut, RefundOut
from psp.settings import PspSettings
from servicekit import PROBLEM_JSON, ProblemError, problem_body

__all__ = [
    "PROBLEM",
    "charge_out",
    "checked_key",
    "lost_answer",
    "raise_injected_faults",
    "refund_out",
    "roll",
]

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
_MAX_KEY_LENGTH = 255


def roll() -> float:
    return random.random()  # noqa: S311 - simulated fault odds, not cryptography


def checked_key(key: str | None, *, what: str) -> str:
    """The request's Idempotency-Key, or a 400 problem; `what` is "charge" or "refund"."""
    if key is None:
        raise ProblemError(
            f"An Idempotency-Key header is required: a unique value (a UUID) per intended {what}, "
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


async def raise_injected_faults(
    faults: Faults, request: Request, count: Callable[[str], None], *, what: str
) -> None:
    """Apply the knobs before anything is recorded: an outage is a 503 with Retry-After, a drawn
    error a 500; `count` gets the outcome (`outage` or `error`)."""
    try:
        await apply_faults(faults, roll)
    except Outage:
        count("outage")
        settings: PspSettings = request.app.state.settings
        raise ProblemError(
            "The payment provider is unavailable.",
            status=503,
            slug="provider-unavailable",
            headers={"Retry-After": str(settings.outage_retry_after_s)},
        ) from None
    except InjectedError:
        count("error")
        raise ProblemError(
            f"The payment provider failed to process the {what}.",
            status=500,
            slug="provider-error",
        ) from None


def lost_answer(faults: Faults, instance: str) -> Response | None:
    """A 500 in place of the real answer when `lose_answer_rate` draws it. It is returned, not
    raised, so the request's transaction still commits what was done."""
    if not answer_lost(faults, roll):
        return None
    body = problem_body(
        500, "The answer was lost (an injected fault).", slug="answer-lost", instance=instance
    )
    return Response(json.dumps(body).encode(), status_code=500, media_type=PROBLEM_JSON)


def refund_out(refund: Refund) -> RefundOut:
    return RefundOut(
        id=refund.id,
        charge_id=refund.charge_id,
        amount=refund.amount,
        currency=refund.currency,
        status="succeeded",
        created_at=refund.created_at,
    )


def charge_out(charge: Charge, refund: Refund | None = None) -> ChargeOut:
    return ChargeOut(
        id=charge.id,
        amount=charge.amount,
        currency=charge.currency,
        payment_method=charge.payment_method,
        reference=charge.reference,
        status=charge.status,
        decline_code=charge.decline_code,
        created_at=charge.created_at,
        refunded=refund is not None,
        refund=refund_out(refund) if refund is not None else None,
    )
