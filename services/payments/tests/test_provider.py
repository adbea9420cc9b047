"""How the psp's answers are read: a charge, a decline, or no answer. The provider is the
outside world, so its answers come from httpx's MockTransport here."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from payments.domain import Charged, Declined, ProviderUnavailable
from payments.provider import PspProvider
from servicekit.http import DownstreamPolicy, ResilientClient

Responder = Callable[[httpx.Request], httpx.Response]
API_KEY = "sk_test_" + "k" * 32


async def _charge(respond: Responder) -> Charged | Declined:
    policy = DownstreamPolicy(base_url="http://psp", max_attempts=1)
    transport = httpx.MockTransport(respond)
    async with ResilientClient("psp", "http://psp", policy, transport=transport) as client:
        return await PspProvider(client, SecretStr(API_KEY)).charge(
            idempotency_key="order-ord_1",
            amount_cents=500,
            currency="EUR",
            payment_method="pm_card_visa",
            reference="ord_1",
        )


def _answer(status: int, body: Any = None, **headers: str) -> Responder:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return respond


async def test_the_charge_carries_the_orders_key_and_amount() -> None:
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "ch_1", "status": "succeeded"})

    assert await _charge(respond) == Charged("ch_1")
    [request] = seen
    assert (request.method, request.url.path) == ("POST", "/v1/charges")
    assert request.headers["idempotency-key"] == "order-ord_1"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert json.loads(request.content) == {
        "amount": 500,
        "currency": "EUR",
        "payment_method": "pm_card_visa",
        "reference": "ord_1",
    }


@pytest.mark.parametrize(
    ("answer", "declined"),
    [
        (_answer(402, {"decline_code": "card_declined"}), Declined("declined")),
        (_answer(402, {"decline_code": "insufficient_funds"}), Declined("insufficient_funds")),
        (_answer(402, {"decline_code": "expired_card"}), Declined("declined")),
        (
            _answer(422, {"type": "urn:flotilla:problem:unknown-payment-method"}),
            Declined("declined"),
        ),
    ],
)
async def test_a_refusal_is_a_decline(answer: Responder, declined: Declined) -> None:
    assert await _charge(answer) == declined


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _too_slow(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def _garbled(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, content=b"<html>")


@pytest.mark.parametrize(
    "answer",
    [
        _answer(503, {"type": "urn:flotilla:problem:provider-unavailable"}, **{"Retry-After": "1"}),
        _answer(500),
        _answer(504),
        _answer(409, {"type": "urn:flotilla:problem:idempotency-key-in-progress"}),
        _answer(429),
        _answer(404),
        _answer(401, {"type": "urn:flotilla:problem:invalid-api-key"}),  # a revoked key
        _refused,
        _too_slow,
        _garbled,
    ],
)
async def test_no_definite_answer_is_provider_unavailable(answer: Responder) -> None:
    with pytest.raises(ProviderUnavailable):
        await _charge(answer)
