"""POST /v1/refunds: a Stripe-like full refund, once per Idempotency-Key and once per charge;
finding the charge made under a key; the fault knobs on refunds — against real Postgres."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from servicekit import is_id, new_id


def _key() -> str:
    return str(uuid.uuid4())


async def _charge(
    psp: httpx.AsyncClient, payment_method: str = "pm_card_visa", key: str | None = None
) -> dict[str, Any]:
    body = {
        "amount": 1234,
        "currency": "EUR",
        "payment_method": payment_method,
        "reference": new_id("ord"),
    }
    response = await psp.post("/v1/charges", json=body, headers={"Idempotency-Key": key or _key()})
    assert response.status_code in (201, 402), response.text
    charge: dict[str, Any] = (
        response.json()
        if response.status_code == 201
        else (await psp.get(f"/v1/charges/{response.json()['charge_id']}")).json()
    )
    return charge


async def _refund(psp: httpx.AsyncClient, charge_id: str, key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await psp.post("/v1/refunds", json={"charge_id": charge_id}, headers=headers)


async def _set(psp: httpx.AsyncClient, admin: dict[str, str], **faults: Any) -> None:
    response = await psp.put(
        "/v1/admin/faults", json=faults, headers={**admin, "Idempotency-Key": _key()}
    )
    assert response.status_code == 200, response.text


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


async def test_a_succeeded_charge_is_refunded_once_and_shows_it(psp: httpx.AsyncClient) -> None:
    charge = await _charge(psp)
    assert (charge["refunded"], charge["refund"]) == (False, None)
    key = _key()

    first = await _refund(psp, charge["id"], key)
    again = await _refund(psp, charge["id"], key)

    assert first.status_code == 201, first.text
    refund = first.json()
    assert is_id(refund["id"], "re")
    assert (refund["charge_id"], refund["amount"], refund["currency"], refund["status"]) == (
        charge["id"],
        1234,
        "EUR",
        "succeeded",
    )
    assert "idempotent-replayed" not in first.headers
    assert (again.status_code, again.json()) == (201, refund)
    assert again.headers["idempotent-replayed"] == "true"
    shown = (await psp.get(f"/v1/charges/{charge['id']}")).json()
    assert (shown["refunded"], shown["refund"]) == (True, refund)
    [listed] = (await psp.get("/v1/charges", params={"reference": charge["reference"]})).json()[
        "items"
    ]
    assert listed == shown


async def test_a_second_refund_of_a_charge_under_another_key_is_a_409(
    psp: httpx.AsyncClient,
) -> None:
    charge = await _charge(psp)
    assert (await _refund(psp, charge["id"], _key())).status_code == 201

    problem = _problem(await _refund(psp, charge["id"], _key()), 409)

    assert problem["type"].endswith("charge-already-refunded")


async def test_the_same_key_for_another_charge_is_a_422(psp: httpx.AsyncClient) -> None:
    key = _key()
    assert (await _refund(psp, (await _charge(psp))["id"], key)).status_code == 201

    problem = _problem(await _refund(psp, (await _charge(psp))["id"], key), 422)

    assert problem["type"].endswith("idempotency-key-reused")


async def test_a_refund_without_a_key_is_a_400(psp: httpx.AsyncClient) -> None:
    charge = await _charge(psp)

    _problem(await _refund(psp, charge["id"], None), 400)

    assert (await psp.get(f"/v1/charges/{charge['id']}")).json()["refunded"] is False


async def test_a_declined_charge_cannot_be_refunded(psp: httpx.AsyncClient) -> None:
    declined = await _charge(psp, "pm_card_declined")
    assert declined["status"] == "failed"

    problem = _problem(await _refund(psp, declined["id"], _key()), 409)

    assert problem["type"].endswith("charge-not-refundable")


async def test_an_unknown_charge_is_a_404(psp: httpx.AsyncClient) -> None:
    problem = _problem(await _refund(psp, new_id("ch"), _key()), 404)

    assert problem["type"].endswith("charge-not-found")


async def test_the_charge_made_under_a_key_is_found_by_it(psp: httpx.AsyncClient) -> None:
    key = _key()
    charge = await _charge(psp, key=key)

    found = await psp.get("/v1/charges", params={"idempotency_key": key})
    nothing = await psp.get("/v1/charges", params={"idempotency_key": _key()})

    assert found.json()["items"] == [charge]
    assert nothing.json()["items"] == []


@pytest.mark.parametrize("params", [{}, {"reference": "ord_x", "idempotency_key": "k"}])
async def test_charges_are_looked_up_by_exactly_one_of_reference_and_key(
    psp: httpx.AsyncClient, params: dict[str, str]
) -> None:
    _problem(await psp.get("/v1/charges", params=params), 422)


@pytest.mark.usefixtures("faults_off_afterwards")
@pytest.mark.parametrize(("knobs", "status"), [({"outage": True}, 503), ({"error_rate": 1.0}, 500)])
async def test_an_outage_or_error_answers_a_refund_with_nothing_recorded(
    psp: httpx.AsyncClient, admin: dict[str, str], knobs: dict[str, Any], status: int
) -> None:
    charge = await _charge(psp)
    await _set(psp, admin, **knobs)

    _problem(await _refund(psp, charge["id"], _key()), status)

    await _set(psp, admin)
    assert (await psp.get(f"/v1/charges/{charge['id']}")).json()["refunded"] is False


@pytest.mark.usefixtures("faults_off_afterwards")
async def test_a_lost_answer_still_refunds_and_a_retry_with_the_key_gets_it(
    psp: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    charge = await _charge(psp)
    key = _key()
    await _set(psp, admin, lose_answer_rate=1.0)

    lost = await _refund(psp, charge["id"], key)

    _problem(lost, 500)
    assert (await psp.get(f"/v1/charges/{charge['id']}")).json()["refunded"] is True
    await _set(psp, admin)
    retried = await _refund(psp, charge["id"], key)
    assert (retried.status_code, retried.headers["idempotent-replayed"]) == (201, "true")


@pytest.mark.usefixtures("faults_off_afterwards")
async def test_a_lost_answer_still_charges_and_the_key_finds_the_charge(
    psp: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = _key()
    body = {
        "amount": 500,
        "currency": "EUR",
        "payment_method": "pm_card_visa",
        "reference": new_id("ord"),
    }
    await _set(psp, admin, lose_answer_rate=1.0)

    _problem(await psp.post("/v1/charges", json=body, headers={"Idempotency-Key": key}), 500)
    _problem(await psp.post("/v1/charges", json=body, headers={"Idempotency-Key": key}), 500)

    [charge] = (await psp.get("/v1/charges", params={"idempotency_key": key})).json()["items"]
    assert (charge["status"], charge["reference"]) == ("succeeded", body["reference"])
    assert (
        len((await psp.get("/v1/charges", params={"reference": body["reference"]})).json()["items"])
        == 1
    )
