"""A password is what the user typed, spaces included — against real Postgres. Sign-up used
to strip it and login did not, so such an account could never log in."""

from __future__ import annotations

import uuid

import httpx

from identity.passwords import Passwords
from identity.repository import UserRepository
from identity.settings import IdentitySettings
from servicekit import new_id
from servicekit.db import Database

PASSWORD = "  two spaces each side  "


async def _log_in(identity: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await identity.post("/v1/tokens", json={"email": email, "password": password})


async def test_a_password_with_surrounding_spaces_logs_in_as_typed(
    identity: httpx.AsyncClient,
) -> None:
    """Sign-up used to strip the password and login did not: such an account was locked out."""
    email = f"spaces-{uuid.uuid4().hex[:12]}@example.com"
    password = PASSWORD
    created = await identity.post(
        "/v1/users",
        json={"email": email, "password": password, "name": "  Spacey  "},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "Spacey"  # names are still trimmed
    assert (await _log_in(identity, email, password)).status_code == 200
    assert (await _log_in(identity, email, password.strip())).status_code == 401


async def test_an_account_made_when_sign_up_stripped_its_password_still_logs_in(
    identity: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    email = f"stripped-{uuid.uuid4().hex[:12]}@example.com"
    database = Database.from_settings(identity_settings)
    try:
        async with database.transaction() as session:
            stored = await Passwords().hash(PASSWORD.strip())  # what sign-up used to store
            await UserRepository(session).add(new_id("usr"), email, "Old", stored)
    finally:
        await database.dispose()
    assert (await _log_in(identity, email, PASSWORD)).status_code == 200
    assert (await _log_in(identity, email, PASSWORD.strip())).status_code == 200
    assert (await _log_in(identity, email, PASSWORD + "x")).status_code == 401
