"""POST /v1/charges: a Stripe-like charge, once per Idempotency-Key — against real Postgres."""

from __future__ import annotations

import asyncio
import uuid
from random import random
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from psp.domain import Charge, ChargeRequest, Faults
from psp.handlers import create_charge
from psp.settings import PspSettings
from servicekit import is_id, new_id
from servicekit.db import Database
from servicekit.testing.statements import statements_sent

from .conftest import MERCHANT


def _body(**overrides: Any) -> dict[str, Any]:
    return {
        "amount": 4200,
        "currency": "EUR",
        "payment_method": "pm_card_visa",
        "reference": new_id("ord"),
        **overrides,
    }


async def _charge(
    psp: httpx.AsyncClient, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    return await psp.post(
        "/v1/charges", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())}
    )


async def _charges_for(psp: httpx.AsyncClient, reference: str) -> list[dict[str, Any]]:
    response = await psp.get("/v1/charges", params={"reference": reference})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


def _charged(outcome: str) -> float:
    return REGISTRY.get_sample_value("flotilla_psp_charges_total", {"outcome": outcome}) or 0.0


async def test_an_approved_card_is_charged(psp: httpx.AsyncClient) -> None:
    body = _body(payment_method="pm_card_mastercard")
    succeeded_before = _charged("succeeded")

    response = await _charge(psp, body)

    assert response.status_code == 201, response.text
    assert "idempotent-replayed" not in response.headers
    charge = response.json()
    assert set(charge) == {
        "id",
        "amount",
        "currency",
        "payment_method",
        "reference",
        "status",
        "decline_code",
        "created_at",
        "refunded",
        "refund",
    }
    assert is_id(charge["id"], "ch")
    assert (charge["amount"], charge["currency"], charge["reference"]) == (
        4200,
        "EUR",
        body["reference"],
    )
    assert (charge["status"], charge["decline_code"]) == ("succeeded", None)
    assert (await psp.get(f"/v1/charges/{charge['id']}")).json() == charge
    assert await _charges_for(psp, body["reference"]) == [charge]
    assert _charged("succeeded") == succeeded_before + 1


@pytest.mark.parametrize(
    ("method", "decline_code"),
    [("pm_card_declined", "card_declined"), ("pm_card_insufficient_funds", "insufficient_funds")],
)
async def test_a_declined_card_is_a_402_and_a_failed_charge(
    psp: httpx.AsyncClient, method: str, decline_code: str
) -> None:
    body = _body(payment_method=method)

    problem = _problem(await _charge(psp, body), 402)

    assert problem["type"] == "urn:flotilla:problem:card-declined"
    assert problem["decline_code"] == decline_code
    [charge] = await _charges_for(psp, body["reference"])
    assert charge["id"] == problem["charge_id"]
    assert (charge["status"], charge["decline_code"]) == ("failed", decline_code)


async def test_an_unknown_payment_method_is_a_422_and_records_nothing(
    psp: httpx.AsyncClient,
) -> None:
    body = _body(payment_method="pm_card_unheard_of")
    problem = _problem(await _charge(psp, body), 422)
    assert problem["type"] == "urn:flotilla:problem:unknown-payment-method"
    assert await _charges_for(psp, body["reference"]) == []


@pytest.mark.parametrize("method", ["pm_card_visa", "pm_card_declined"])
async def test_a_retry_with_the_same_key_gets_the_first_answer_again(
    psp: httpx.AsyncClient, method: str
) -> None:
    body, key = _body(payment_method=method), str(uuid.uuid4())
    first = await _charge(psp, body, key)

    again = await _charge(psp, dict(reversed(body.items())), key)  # key order does not matter

    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true"
    assert len(await _charges_for(psp, body["reference"])) == 1


@pytest.mark.parametrize("change", [{"amount": 1}, {"payment_method": "pm_card_unheard_of"}])
async def test_a_key_reused_for_another_charge_is_a_422(
    psp: httpx.AsyncClient, change: dict[str, Any]
) -> None:
    body, key = _body(), str(uuid.uuid4())
    assert (await _charge(psp, body, key)).status_code == 201

    problem = _problem(await _charge(psp, {**body, **change}, key), 422)

    assert problem["type"] == "urn:flotilla:problem:idempotency-key-reused"
    [charge] = await _charges_for(psp, body["reference"])
    assert charge["amount"] == 4200


@pytest.mark.parametrize(
    ("headers", "slug"),
    [
        ({}, "idempotency-key-missing"),
        ({"Idempotency-Key": "k" * 256}, "idempotency-key-invalid"),
        ({"Idempotency-Key": ""}, "idempotency-key-invalid"),
    ],
)
async def test_a_charge_without_a_usable_key_is_a_400(
    psp: httpx.AsyncClient, headers: dict[str, str], slug: str
) -> None:
    body = _body()
    problem = _problem(await psp.post("/v1/charges", json=body, headers=headers), 400)
    assert problem["type"] == f"urn:flotilla:problem:{slug}"
    assert await _charges_for(psp, body["reference"]) == []


async def test_twenty_concurrent_identical_requests_make_one_charge(
    psp: httpx.AsyncClient,
) -> None:
    body, key = _body(), str(uuid.uuid4())

    responses = await asyncio.gather(*(_charge(psp, body, key) for _ in range(20)))

    assert {response.status_code for response in responses} == {201}, [
        r.text for r in responses if r.status_code != 201
    ]
    assert len({response.content for response in responses}) == 1
    replayed = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    assert len(replayed) == 19
    assert len(await _charges_for(psp, body["reference"])) == 1


@pytest.mark.parametrize(
    "body",
    [
        _body(amount=-1),
        _body(amount="12"),
        _body(currency="eur"),
        _body(reference=""),
        _body(payment_method=""),
        _body(extra="field"),
        {"amount": 1, "currency": "EUR", "payment_method": "pm_card_visa"},
    ],
)
async def test_an_invalid_charge_is_a_422_problem(
    psp: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    problem = _problem(await _charge(psp, body), 422)
    assert problem["type"] == "urn:flotilla:problem:validation-error"


async def test_a_malformed_body_is_a_400_problem(psp: httpx.AsyncClient) -> None:
    response = await psp.post(
        "/v1/charges",
        content=b"{not json",
        headers={"Idempotency-Key": str(uuid.uuid4()), "content-type": "application/json"},
    )
    _problem(response, 400)


async def test_an_unknown_charge_is_a_404_problem(psp: httpx.AsyncClient) -> None:
    problem = _problem(await psp.get(f"/v1/charges/{new_id('ch')}"), 404)
    assert problem["type"] == "urn:flotilla:problem:charge-not-found"


async def test_charges_are_listed_by_reference_oldest_first(psp: httpx.AsyncClient) -> None:
    reference = new_id("ord")
    ids = []
    for method in ("pm_card_declined", "pm_card_visa"):
        response = await _charge(psp, _body(reference=reference, payment_method=method))
        ids.append(response.json().get("id") or response.json()["charge_id"])
    assert [charge["id"] for charge in await _charges_for(psp, reference)] == ids
    response = await psp.get("/v1/charges")
    _problem(response, 422)


def _answer(charge: Charge) -> tuple[int, bytes]:
    return 201, charge.id.encode()


async def test_a_new_charge_is_one_statement_and_a_retry_two(psp_settings: PspSettings) -> None:
    """In autocommit: the charge inserted unless its key has one; the key's charge read only
    when it had."""
    database = Database.from_settings(psp_settings)
    request = ChargeRequest(4200, "EUR", "pm_card_visa", new_id("ord"))
    key = str(uuid.uuid4())
    try:
        for expected in (["INSERT"], ["INSERT", "SELECT"]):
            async with database.standalone() as session, statements_sent(session) as sent:
                await create_charge(
                    session, MERCHANT, key, request, Faults(), render=_answer, roll=random
                )
            assert [statement.split()[0] for statement in sent] == expected
    finally:
        await database.dispose()
