"""The payment provider, as payments sees it: charge, and get a yes, a no, or no answer.

The psp is called through servicekit's resilient client (deadline, retries of the keyed POST
under a budget, circuit breaker). What comes back is sorted into three cases:

    201                         → Charged(charge id)
    402 card_declined           → Declined("declined")
    402 insufficient_funds      → Declined("insufficient_funds")
    422 (unknown payment method, a request the provider will never accept)
                                → Declined("declined"): asking again cannot change the answer
    5xx, 408, 409, 429, any other status, an unreadable body, a timeout, a refused connection,
    an open breaker             → ProviderUnavailable: the charge may or may not exist; the
                                  same Idempotency-Key on the next attempt finds out

Every call carries the merchant account's secret key (`Authorization: Bearer sk_…`); a 401
means it is wrong or revoked, which no retry mends: it is logged as an error and, like any
other unexpected status, treated as ProviderUnavailable so that no order is given up on while
an operator fixes the key.

A refund (of a cancelled order's charge) is 201 → its refund id; anything else, or no answer,
is ProviderUnavailable, and so is a failed look-up of the charge made under a key.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from payments.domain import Charged, Declined, ProviderUnavailable
from servicekit import ProblemError
from servicekit.http import ResilientClient

__all__ = ["PaymentProvider", "PspProvider"]

log = logging.getLogger(__name__)


class PaymentProvider(Protocol):
    async def charge(
        self,
        *,
        idempotency_key: str,
        amount_cents: int,
        currency: str,
        payment_method: str,
        reference: str,
    ) -> Charged | Declined:
        """Raises ProviderUnavailable when the provider gave no definite answer."""

    async def succeeded_charge(self, *, idempotency_key: str) -> str | None:
        """The id of the succeeded charge made under the key, or None when none was (nothing
        charged, or declined). Raises ProviderUnavailable."""

    async def refund(self, *, idempotency_key: str, charge_id: str) -> str:
        """Refund the charge in full; returns the refund's id. Raises ProviderUnavailable."""


class PspProvider:
    def __init__(self, client: ResilientClient, api_key: SecretStr) -> None:
        self._client = client
        self._api_key = api_key

    def _auth(self, **headers: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self._api_key.get_secret_value()}", **headers}

    def _check_key(self, response: httpx.Response) -> None:
        if response.status_code == 401:
            log.error("the provider refused payments' API key (PSP_API_KEY): fix the secret")

    async def charge(
        self,
        *,
        idempotency_key: str,
        amount_cents: int,
        currency: str,
        payment_method: str,
        reference: str,
    ) -> Charged | Declined:
        try:
            response = await self._client.post(
                "/v1/charges",
                json={
                    "amount": amount_cents,
                    "currency": currency,
                    "payment_method": payment_method,
                    "reference": reference,
                },
                headers=self._auth(**{"Idempotency-Key": idempotency_key}),
            )
        except (ProblemError, httpx.HTTPError) as error:  # breaker open, unreachable, timeout
            raise ProviderUnavailable(f"{type(error).__name__}: {error}") from error
        self._check_key(response)
        body = _json(response)
        if response.status_code == 201 and isinstance(body.get("id"), str):
            return Charged(body["id"])
        if response.status_code == 402:
            code = body.get("decline_code")
            return Declined("insufficient_funds" if code == "insufficient_funds" else "declined")
        if response.status_code == 422:
            log.warning(
                "the provider refused the charge request: %s",
                body.get("type") or body.get("detail"),
                extra={"reference": reference},
            )
            return Declined("declined")
        raise ProviderUnavailable(f"the provider answered {response.status_code}")

    async def succeeded_charge(self, *, idempotency_key: str) -> str | None:
        try:
            response = await self._client.get(
                "/v1/charges", params={"idempotency_key": idempotency_key}, headers=self._auth()
            )
        except (ProblemError, httpx.HTTPError) as error:
            raise ProviderUnavailable(f"{type(error).__name__}: {error}") from error
        self._check_key(response)
        items = _json(response).get("items")
        if response.status_code != 200 or not isinstance(items, list):
            raise ProviderUnavailable(f"the provider answered {response.status_code}")
        for charge in items:
            if isinstance(charge, dict) and charge.get("status") == "succeeded":
                return str(charge["id"])
        return None

    async def refund(self, *, idempotency_key: str, charge_id: str) -> str:
        try:
            response = await self._client.post(
                "/v1/refunds",
                json={"charge_id": charge_id},
                headers=self._auth(**{"Idempotency-Key": idempotency_key}),
            )
        except (ProblemError, httpx.HTTPError) as error:
            raise ProviderUnavailable(f"{type(error).__name__}: {error}") from error
        self._check_key(response)
        body = _json(response)
        if response.status_code == 201 and isinstance(body.get("id"), str):
            return str(body["id"])
        # A 404 or 409 would mean payments' own records disagree with the provider's: never
        # given up on silently — retried, then kept in the dead-letter topic with the reason.
        raise ProviderUnavailable(
            f"the provider answered {response.status_code} to the refund of {charge_id}: "
            f"{body.get('type') or body.get('detail') or ''}"
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
