"""Sign up through the gateway; the welcome email follows through Kafka within seconds."""

from __future__ import annotations

import uuid

import httpx
import pytest

from devstack.profiles import Profile
from devstack.smtp_sink import read_messages
from servicekit.testing.events import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


async def test_a_sign_up_yields_the_welcome_notification_within_seconds(
    gateway: httpx.AsyncClient, stack_profile: Profile
) -> None:
    email = f"welcome-{uuid.uuid4().hex[:10]}@example.com"
    created = await gateway.post(
        "/identity/v1/users",
        json={"email": email, "password": PASSWORD, "name": "Wes"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201
    token = (
        await gateway.post("/identity/v1/tokens", json={"email": email, "password": PASSWORD})
    ).json()["access_token"]
    headers = {"authorization": f"Bearer {token}"}

    async def listed() -> bool:
        response = await gateway.get("/notifications/v1/notifications", headers=headers)
        return response.status_code == 200 and len(response.json()["items"]) == 1

    await eventually(listed, timeout_s=15, what="the welcome notification")
    [notification] = (await gateway.get("/notifications/v1/notifications", headers=headers)).json()[
        "items"
    ]
    assert notification["template"] == "welcome"
    assert notification["recipient"] == email
    assert notification["status"] == "sent"
    mails = [m for m in read_messages(stack_profile.mail) if m["To"] == email]
    assert len(mails) == 1
    assert "Wes" in mails[0].get_content()


async def test_notifications_are_private_to_their_user(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/notifications/v1/notifications")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
