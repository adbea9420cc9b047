"""identity end to end: through the nginx gateway to the running service and its Postgres."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import httpx
import jwt
import pytest

from devstack.profiles import Profile
from devstack.stack import ADMIN_EMAIL, Stack

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def _email() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}@example.com"


def _is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert "Traceback" not in response.text
    return dict(body)


async def test_sign_up_then_token_then_me(gateway: httpx.AsyncClient) -> None:
    email = _email()
    created = await gateway.post(
        "/identity/v1/users",
        json={"email": email, "password": PASSWORD, "name": "E2E"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201, created.text
    token = await gateway.post("/identity/v1/tokens", json={"email": email, "password": PASSWORD})
    assert token.status_code == 200
    me = await gateway.get(
        "/identity/v1/users/me",
        headers={"authorization": f"Bearer {token.json()['access_token']}"},
    )
    assert me.status_code == 200
    assert me.json() == created.json()


async def test_the_admin_from_settings_can_log_in_with_the_admin_role(
    gateway: httpx.AsyncClient, test_stack: Stack
) -> None:
    response = await gateway.post(
        "/identity/v1/tokens",
        json={"email": ADMIN_EMAIL, "password": test_stack.admin_password},
    )
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["admin"]


BAD_BODIES: list[tuple[str, bytes, int]] = [
    ("malformed json", b'{"email": "a@', 400),
    ("wrong types", json.dumps({"email": 1, "password": [], "name": {}}).encode(), 422),
    ("missing fields", b"{}", 422),
    ("not an object", b"[1, 2, 3]", 422),
    ("two megabytes", b'{"name": "' + b"x" * 2_000_000 + b'"}', 413),
]


@pytest.mark.parametrize("path", ["/identity/v1/users", "/identity/v1/tokens"])
@pytest.mark.parametrize(("case", "body", "status"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_input_to_every_endpoint_is_a_4xx_problem(
    gateway: httpx.AsyncClient, path: str, case: str, body: bytes, status: int
) -> None:
    response = await gateway.post(
        path,
        content=body,
        headers={"content-type": "application/json", "Idempotency-Key": str(uuid.uuid4())},
    )
    _is_problem(response, status)


@pytest.mark.parametrize(
    "path", ["/nowhere", "/identity/v1/nowhere", "/identity/v1/users/me/extra"]
)
async def test_unknown_routes_are_404_problems(gateway: httpx.AsyncClient, path: str) -> None:
    _is_problem(await gateway.get(path), 404)


@pytest.mark.parametrize("token", ["garbage", "a.b.c", secrets.token_urlsafe(64)])
async def test_a_bad_token_is_a_401_problem(gateway: httpx.AsyncClient, token: str) -> None:
    response = await gateway.get(
        "/identity/v1/users/me", headers={"authorization": f"Bearer {token}"}
    )
    _is_problem(response, 401)


async def test_jwks_is_public(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/identity/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json()["keys"][0]["alg"] == "EdDSA"


async def test_log_lines_of_one_request_share_its_request_id_and_trace_id(
    gateway: httpx.AsyncClient, stack_profile: Profile
) -> None:
    request_id = f"e2e-{uuid.uuid4().hex}"
    trace_id = secrets.token_hex(16)
    response = await gateway.post(
        "/identity/v1/users",
        json={"email": _email(), "password": PASSWORD, "name": "Logged"},
        headers={
            "x-request-id": request_id,
            "Idempotency-Key": str(uuid.uuid4()),
            "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
        },
    )
    assert response.status_code == 201
    assert response.headers["x-request-id"] == request_id
    log_file = stack_profile.logs / "identity.log"
    lines = [
        json.loads(line)
        for line in log_file.read_text().splitlines()
        if request_id in line and line.startswith("{")
    ]
    messages = {line["message"] for line in lines}
    assert "user registered" in messages
    assert any(line["logger"] == "servicekit.access" for line in lines)
    # One trace for the request's lines — the service's own: the gateway drops the caller's
    # traceparent (a client must not choose its traces, tests/security/test_trace_context.py).
    traces = {line["trace_id"] for line in lines}
    assert len(traces) == 1
    assert trace_id not in traces
    assert all(line["service"] == "identity" and "span_id" in line for line in lines)
