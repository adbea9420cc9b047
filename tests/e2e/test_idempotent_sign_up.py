"""Sign-up is idempotent: through the gateway, against the running identity and its Postgres."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from devstack.stack import Stack

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def _sign_up_body() -> dict[str, str]:
    return {"email": f"idem-{uuid.uuid4().hex[:12]}@example.com", "password": PASSWORD, "name": "I"}


async def test_fifty_concurrent_sign_ups_with_one_key_create_one_user_and_answer_alike(
    gateway: httpx.AsyncClient,
) -> None:
    body = _sign_up_body()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    responses = await asyncio.gather(
        *(gateway.post("/identity/v1/users", json=body, headers=key) for _ in range(50))
    )
    created = [r for r in responses if r.status_code == 201]
    in_progress = [r for r in responses if r.status_code == 409]
    assert len(created) + len(in_progress) == 50, {r.status_code for r in responses}
    assert len({r.json()["id"] for r in created}) == 1
    assert len({r.content for r in created}) == 1
    assert all(
        r.json()["type"] == "urn:flotilla:problem:idempotency-key-in-progress"
        and r.headers["retry-after"]
        for r in in_progress
    )
    # Without the key the duplicates would have been 409 "email taken"; with it, the one
    # account exists and a later retry still replays it.
    retried = await gateway.post("/identity/v1/users", json=body, headers=key)
    assert retried.headers["idempotent-replayed"] == "true"
    assert retried.json()["id"] == created[0].json()["id"]


async def test_a_reused_key_with_another_body_is_422_and_a_missing_key_400(
    gateway: httpx.AsyncClient,
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert (
        await gateway.post("/identity/v1/users", json=_sign_up_body(), headers=key)
    ).status_code == 201
    reused = await gateway.post("/identity/v1/users", json=_sign_up_body(), headers=key)
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    missing = await gateway.post("/identity/v1/users", json=_sign_up_body())
    assert missing.status_code == 400
    assert missing.json()["type"] == "urn:flotilla:problem:idempotency-key-missing"


async def test_a_process_killed_mid_request_leaves_nothing_and_the_retry_succeeds_once(
    gateway: httpx.AsyncClient, test_stack: Stack
) -> None:
    body = _sign_up_body()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    identity = test_stack.service("identity")
    admin = await asyncpg.connect(test_stack.postgres.admin_dsn("flotilla"))
    try:
        # Hold identity's idempotency table so the sign-up stops at its last statement, with
        # the user and its event written but not committed; then kill the process there.
        holder = admin.transaction()
        await holder.start()
        await admin.execute("LOCK TABLE identity.idempotency_records IN SHARE MODE")
        request = asyncio.create_task(gateway.post("/identity/v1/users", json=body, headers=key))
        await _until_identity_waits_on_a_lock(admin)
        await asyncio.to_thread(identity.kill)
        await holder.rollback()
        interrupted = await request
        assert interrupted.status_code >= 500  # the gateway's 502: the upstream vanished

        await asyncio.to_thread(identity.start)
        users = await admin.fetchval(
            "SELECT count(*) FROM identity.users WHERE email = $1", body["email"]
        )
        records = await admin.fetchval(
            "SELECT count(*) FROM identity.idempotency_records WHERE key = $1",
            key["Idempotency-Key"],
        )
        assert (users, records) == (0, 0)
    finally:
        await admin.close()
        if not identity.is_running():
            await asyncio.to_thread(identity.start)

    retry = await gateway.post("/identity/v1/users", json=body, headers=key)
    again = await gateway.post("/identity/v1/users", json=body, headers=key)
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == retry.json()


async def _until_identity_waits_on_a_lock(admin: asyncpg.Connection) -> None:
    """Poll Postgres (another process's state: nothing to await but the query itself)."""
    async with asyncio.timeout(10):
        while True:
            waiting = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'identity' AND wait_event_type = 'Lock'"
            )
            if waiting:
                return
            await asyncio.sleep(0.01)
