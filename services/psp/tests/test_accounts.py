"""Every charge, refund and look-up needs a merchant account's secret API key, and one account
never sees, refunds or collides with another's charges — against real Postgres."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from psp.settings import PspSettings
from servicekit import load_settings, new_id

PspFactory = Callable[[], httpx.AsyncClient]
MERCHANT = "acct_flotilla"
OTHER_MERCHANT = "acct_other_shop"


def _body(**overrides: Any) -> dict[str, Any]:
    return {
        "amount": 1200,
        "currency": "EUR",
        "payment_method": "pm_card_visa",
        "reference": new_id("ord"),
        **overrides,
    }


def _unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Bearer realm="psp"'
    assert response.json()["type"] == "urn:flotilla:problem:invalid-api-key"


_NOT_A_KEY = {
    "none": lambda key: None,  # no Authorization header at all
    "unknown": lambda key: "Bearer sk_test_" + "0" * 32,  # well-formed, nobody's
    "short": lambda key: "Bearer " + key[:-1],  # a real key, one character short
    "basic": lambda key: "Basic " + key,  # the right secret, the wrong scheme
    "empty": lambda key: "Bearer ",
}


@pytest.mark.parametrize("kind", list(_NOT_A_KEY))
async def test_every_provider_call_without_a_valid_key_is_a_401(
    replica: PspFactory, psp: httpx.AsyncClient, api_keys: dict[str, str], kind: str
) -> None:
    authorization = _NOT_A_KEY[kind](api_keys[MERCHANT])
    charged = await psp.post(
        "/v1/charges", json=_body(), headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert charged.status_code == 201, charged.text
    charge = charged.json()
    async with replica() as caller:
        del caller.headers["authorization"]
        headers = {"authorization": authorization} if authorization is not None else {}
        key = {"Idempotency-Key": str(uuid.uuid4()), **headers}
        attempts = [
            caller.post("/v1/charges", json=_body(), headers=key),
            caller.get("/v1/charges", params={"reference": charge["reference"]}, headers=headers),
            caller.get("/v1/charges", params={"idempotency_key": "k"}, headers=headers),
            caller.get(f"/v1/charges/{charge['id']}", headers=headers),
            caller.post("/v1/refunds", json={"charge_id": charge["id"]}, headers=key),
        ]
        for attempt in attempts:
            _unauthorized(await attempt)
    # Nothing was refunded by the refused refund.
    shown = (await psp.get(f"/v1/charges/{charge['id']}")).json()
    assert shown["refunded"] is False


async def test_a_key_never_appears_in_the_answer(replica: PspFactory) -> None:
    guessed = "sk_test_" + "A" * 40
    async with replica() as caller:
        response = await caller.get("/v1/charges/x", headers={"authorization": f"Bearer {guessed}"})
    _unauthorized(response)
    assert guessed not in response.text


async def test_another_account_cannot_read_or_refund_a_charge(
    replica: PspFactory, psp: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    key = str(uuid.uuid4())
    charge = (await psp.post("/v1/charges", json=_body(), headers={"Idempotency-Key": key})).json()
    async with replica() as other:
        other.headers["authorization"] = f"Bearer {api_keys[OTHER_MERCHANT]}"
        assert (await other.get(f"/v1/charges/{charge['id']}")).status_code == 404
        listed = await other.get("/v1/charges", params={"reference": charge["reference"]})
        assert listed.json()["items"] == []
        by_key = await other.get("/v1/charges", params={"idempotency_key": key})
        assert by_key.json()["items"] == []
        refund = await other.post(
            "/v1/refunds",
            json={"charge_id": charge["id"]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert refund.status_code == 404, refund.text
    assert (await psp.get(f"/v1/charges/{charge['id']}")).json()["refunded"] is False


async def test_idempotency_keys_are_scoped_to_the_account(
    replica: PspFactory, psp: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    """Another merchant taking `order-<id>` first must not turn our charge into a clash."""
    key = f"order-{new_id('ord')}"
    async with replica() as other:
        other.headers["authorization"] = f"Bearer {api_keys[OTHER_MERCHANT]}"
        squatted = await other.post(
            "/v1/charges",
            json=_body(payment_method="pm_card_declined"),
            headers={"Idempotency-Key": key},
        )
        assert squatted.status_code == 402, squatted.text
    ours = await psp.post("/v1/charges", json=_body(), headers={"Idempotency-Key": key})
    assert ours.status_code == 201, ours.text
    assert "idempotent-replayed" not in ours.headers


def test_keys_come_from_a_secret_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_keys: dict[str, str]
) -> None:
    (tmp_path / "api_keys").write_text(json.dumps({MERCHANT: api_keys[MERCHANT]}))
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://psp:pw@127.0.0.1:1/flotilla")
    monkeypatch.setenv("JWKS_URL", "http://127.0.0.1:9/.well-known/jwks.json")
    settings = load_settings(PspSettings)
    assert settings.api_keys[MERCHANT].get_secret_value() == api_keys[MERCHANT]
    assert api_keys[MERCHANT] not in repr(settings)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({}, "at least one merchant account"),
        ({"merchant": "sk_test_" + "a" * 24}, "account id 'merchant'"),
        ({MERCHANT: "hunter2"}, "the key of acct_flotilla"),
        ({MERCHANT: "sk_test_" + "a" * 24, OTHER_MERCHANT: "sk_test_" + "a" * 24}, "of its own"),
    ],
)
def test_unusable_keys_are_refused_at_start_up(keys: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        PspSettings(
            database_url="postgresql+asyncpg://psp:pw@127.0.0.1:1/flotilla",
            jwks_url="http://127.0.0.1:9/.well-known/jwks.json",
            api_keys=keys,  # type: ignore[arg-type]
        )
    assert "hunter2" not in str(caught.value)
