"""identity's API: sign up, tokens, me, JWKS — against real Postgres."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from identity.settings import IdentitySettings
from servicekit.auth import issue_access_token, load_key_ring, write_new_signing_key

PASSWORD = "correct horse battery staple"


def _email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


async def _sign_up(client: httpx.AsyncClient, email: str, name: str = "Ann") -> httpx.Response:
    return await client.post(
        "/v1/users",
        json={"email": email, "password": PASSWORD, "name": name},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )


async def _token(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/v1/tokens", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


async def test_sign_up_returns_the_user_with_a_prefixed_id(identity: httpx.AsyncClient) -> None:
    email = _email()
    response = await _sign_up(identity, email)
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("usr_")
    assert body["email"] == email
    assert body["name"] == "Ann"
    assert "password" not in response.text
    assert set(body) == {"id", "email", "name", "created_at"}


async def test_an_email_registers_once_whatever_its_case(identity: httpx.AsyncClient) -> None:
    email = _email()
    assert (await _sign_up(identity, email)).status_code == 201
    problem = _problem(await _sign_up(identity, email.upper()), 409)
    assert problem["type"] == "urn:flotilla:problem:email-taken"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD, "name": "Ann"},
        {"email": "a@example.com", "password": "short", "name": "Ann"},
        {"email": "a@example.com", "password": PASSWORD, "name": ""},
        {"email": "a@example.com", "password": PASSWORD},
        {"email": ["a@example.com"], "password": PASSWORD, "name": "Ann"},
        {"email": "a@example.com", "password": PASSWORD, "name": "Ann", "role": "admin"},
    ],
)
async def test_invalid_sign_ups_are_422_problems(
    identity: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    _problem(
        await identity.post("/v1/users", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}),
        422,
    )


async def test_a_token_identifies_the_user_to_me(identity: httpx.AsyncClient) -> None:
    email = _email()
    user = (await _sign_up(identity, email)).json()
    response = await identity.post("/v1/tokens", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    me = await identity.get(
        "/v1/users/me", headers={"authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json() == user


async def test_the_token_is_eddsa_signed_with_a_kid_published_in_the_jwks(
    identity: httpx.AsyncClient,
) -> None:
    email = _email()
    await _sign_up(identity, email)
    token = await _token(identity, email)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    jwks = (await identity.get("/.well-known/jwks.json")).json()
    [key] = [key for key in jwks["keys"] if key["kid"] == header["kid"]]
    public_key = jwt.PyJWK(key).key
    claims = jwt.decode(token, public_key, algorithms=["EdDSA"], audience="flotilla")
    assert claims["iss"] == "flotilla-identity"
    assert claims["roles"] == []
    assert "d" not in key  # never the private part


async def test_a_wrong_password_and_an_unknown_email_look_the_same(
    identity: httpx.AsyncClient,
) -> None:
    email = _email()
    await _sign_up(identity, email)
    wrong = _problem(
        await identity.post("/v1/tokens", json={"email": email, "password": "wrong password"}),
        401,
    )
    unknown = _problem(
        await identity.post("/v1/tokens", json={"email": _email(), "password": PASSWORD}), 401
    )
    wrong.pop("request_id")
    unknown.pop("request_id")
    assert wrong == unknown


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer not.a.token", "Basic dXNlcjpwYXNz", "Bearer " + "a" * 5000],
)
async def test_me_without_a_valid_token_is_401(
    identity: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    response = await identity.get("/v1/users/me", headers=headers)
    _problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_an_expired_token_is_401(
    identity: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    ring = load_key_ring(identity_settings.jwt_keys_dir)
    expired = issue_access_token(
        ring, subject="usr_x", issuer="flotilla-identity", audience="flotilla", ttl_s=-120
    )
    problem = _problem(
        await identity.get("/v1/users/me", headers={"authorization": f"Bearer {expired}"}), 401
    )
    assert "expired" in problem["detail"]


async def test_a_token_signed_by_another_key_is_401(
    identity: httpx.AsyncClient, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger"
    write_new_signing_key(stranger, "key.pem")
    forged = issue_access_token(
        load_key_ring(stranger),
        subject="usr_x",
        issuer="flotilla-identity",
        audience="flotilla",
        ttl_s=300,
        roles=["admin"],
    )
    response = await identity.get("/v1/users/me", headers={"authorization": f"Bearer {forged}"})
    _problem(response, 401)
