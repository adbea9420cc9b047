"""The fault knobs: admin-only, stored in the database (every replica agrees), applied to each
charge before anything is recorded."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from servicekit import new_id

NO_FAULTS = {
    "latency_ms": 0,
    "error_rate": 0.0,
    "decline_rate": 0.0,
    "outage": False,
    "lose_answer_rate": 0.0,
}

pytestmark = pytest.mark.usefixtures("faults_off_afterwards")


def _body(**overrides: Any) -> dict[str, Any]:
    return {
        "amount": 999,
        "currency": "EUR",
        "payment_method": "pm_card_visa",
        "reference": new_id("ord"),
        **overrides,
    }


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def _set(psp: httpx.AsyncClient, admin: dict[str, str], **faults: Any) -> None:
    response = await psp.put("/v1/admin/faults", json=faults, headers={**admin, **_key()})
    assert response.status_code == 200, response.text
    assert response.json() == {**NO_FAULTS, **faults}


async def _charges_for(psp: httpx.AsyncClient, reference: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (
        await psp.get("/v1/charges", params={"reference": reference})
    ).json()["items"]
    return items


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


async def test_an_outage_answers_503_with_retry_after_and_records_nothing(
    psp: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body, key = _body(), _key()
    await _set(psp, admin, outage=True)

    response = await psp.post("/v1/charges", json=body, headers=key)

    problem = _problem(response, 503)
    assert problem["type"] == "urn:flotilla:problem:provider-unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert await _charges_for(psp, body["reference"]) == []

    await psp.delete("/v1/admin/faults", headers={**admin, **_key()})
    after = await psp.post("/v1/charges", json=body, headers=key)  # the same key, now charged
    assert after.status_code == 201, after.text
    assert "idempotent-replayed" not in after.headers


async def test_an_error_rate_of_one_answers_500_and_records_nothing(
    psp: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = _body()
    await _set(psp, admin, error_rate=1.0)

    problem = _problem(await psp.post("/v1/charges", json=body, headers=_key()), 500)

    assert problem["type"] == "urn:flotilla:problem:provider-error"
    assert await _charges_for(psp, body["reference"]) == []


async def test_latency_delays_the_charge(psp: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await _set(psp, admin, latency_ms=300)
    started = time.monotonic()
    response = await psp.post("/v1/charges", json=_body(), headers=_key())
    assert response.status_code == 201, response.text
    assert time.monotonic() - started >= 0.3


async def test_latency_past_the_request_deadline_is_a_504_and_records_nothing(
    psp: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = _body()
    await _set(psp, admin, latency_ms=5_000)
    started = time.monotonic()

    response = await psp.post(
        "/v1/charges", json=body, headers={**_key(), "x-request-budget-ms": "200"}
    )

    assert _problem(response, 504)["type"] == "urn:flotilla:problem:deadline-exceeded"
    assert time.monotonic() - started < 5.0
    assert await _charges_for(psp, body["reference"]) == []


async def test_a_decline_rate_of_one_declines_approvable_cards(
    psp: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = _body()
    await _set(psp, admin, decline_rate=1.0)
    problem = _problem(await psp.post("/v1/charges", json=body, headers=_key()), 402)
    assert problem["decline_code"] == "card_declined"
    [charge] = await _charges_for(psp, body["reference"])
    assert charge["status"] == "failed"


async def test_every_replica_reads_the_same_faults(
    psp: httpx.AsyncClient,
    replica: Callable[[], httpx.AsyncClient],
    admin: dict[str, str],
) -> None:
    await _set(psp, admin, outage=True, latency_ms=10)
    async with replica() as other:
        assert (await other.get("/v1/admin/faults", headers=admin)).json() == {
            **NO_FAULTS,
            "outage": True,
            "latency_ms": 10,
        }
        _problem(await other.post("/v1/charges", json=_body(), headers=_key()), 503)


async def test_put_sets_every_knob_and_delete_turns_them_off(
    psp: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _set(psp, admin, error_rate=0.5, decline_rate=0.25, latency_ms=5)
    await _set(psp, admin, outage=True)  # the knobs it omits are off again
    response = await psp.delete("/v1/admin/faults", headers={**admin, **_key()})
    assert response.json() == NO_FAULTS
    assert (await psp.get("/v1/admin/faults", headers=admin)).json() == NO_FAULTS


@pytest.mark.parametrize(
    "faults",
    [
        {"error_rate": 1.5},
        {"decline_rate": -0.1},
        {"latency_ms": -1},
        {"outage": "sometimes"},
        {"chaos": True},
    ],
)
async def test_invalid_knobs_are_a_422_problem(
    psp: httpx.AsyncClient, admin: dict[str, str], faults: dict[str, Any]
) -> None:
    response = await psp.put("/v1/admin/faults", json=faults, headers={**admin, **_key()})
    _problem(response, 422)
    assert (await psp.get("/v1/admin/faults", headers=admin)).json() == NO_FAULTS


@pytest.mark.parametrize(
    ("method", "json"),
    [("GET", None), ("PUT", {"outage": True}), ("DELETE", None)],
)
async def test_the_knobs_are_for_admins_only(
    psp: httpx.AsyncClient,
    customer: dict[str, str],
    admin: dict[str, str],
    method: str,
    json: dict[str, Any] | None,
) -> None:
    anonymous = await psp.request(
        method, "/v1/admin/faults", json=json, headers={**_key(), "authorization": ""}
    )
    assert _problem(anonymous, 401)["type"] == "urn:flotilla:problem:unauthenticated"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")

    # A merchant's API key (the client's default) pays; it does not administer the provider.
    merchant = await psp.request(method, "/v1/admin/faults", json=json, headers=_key())
    assert _problem(merchant, 401)["type"] == "urn:flotilla:problem:invalid-token"

    not_admin = await psp.request(
        method, "/v1/admin/faults", json=json, headers={**customer, **_key()}
    )
    assert _problem(not_admin, 403)["type"] == "urn:flotilla:problem:forbidden"

    forged = {"authorization": "Bearer not.a.token"}
    _problem(await psp.request(method, "/v1/admin/faults", json=json, headers=forged), 401)
    assert (await psp.get("/v1/admin/faults", headers=admin)).json() == NO_FAULTS


async def test_an_outage_refuses_the_look_up_by_key_but_not_the_listing_by_reference(
    psp: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """The look-up by key is what a client whose answer was lost calls: down with the rest of
    the provider's API. The listing by reference stands for the provider's dashboard."""
    body, key = _body(), _key()
    charged = await psp.post("/v1/charges", json=body, headers=key)
    assert charged.status_code == 201, charged.text
    await _set(psp, admin, outage=True)

    look_up = await psp.get("/v1/charges", params={"idempotency_key": key["Idempotency-Key"]})

    assert _problem(look_up, 503)["type"] == "urn:flotilla:problem:provider-unavailable"
    assert [c["id"] for c in await _charges_for(psp, body["reference"])] == [charged.json()["id"]]
    await psp.delete("/v1/admin/faults", headers={**admin, **_key()})
    found = await psp.get("/v1/charges", params={"idempotency_key": key["Idempotency-Key"]})
    assert [c["id"] for c in found.json()["items"]] == [charged.json()["id"]]
