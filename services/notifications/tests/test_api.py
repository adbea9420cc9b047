"""GET /v1/notifications: the caller's own notifications, newest first, page by page."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifications.domain import Notification
from notifications.main import build_app
from notifications.repository import NotificationRepository
from notifications.settings import NotificationsSettings
from servicekit import new_id
from servicekit.auth import KeyRing
from servicekit.db import Database
from servicekit.testing import bearer, in_process_client, new_key_ring


@pytest.fixture(scope="module")
async def api(
    notifications_settings: NotificationsSettings, key_ring: KeyRing
) -> AsyncIterator[httpx.AsyncClient]:
    # Without the lifespan: the routes need only the database, and the event consumer must not
    # join the running stack's consumer group.
    app = build_app(notifications_settings)
    async with in_process_client(app, key_ring, "http://notifications") as client:
        yield client
    await app.state.database.dispose()


def _auth(ring: KeyRing, user_id: str, **overrides: Any) -> dict[str, str]:
    return bearer(ring, subject=user_id, **overrides)


async def _seed(database: Database, user_id: str, count: int) -> list[str]:
    """`count` sent notifications for `user_id`; their ids, oldest first."""
    ids = []
    async with database.transaction() as session:
        repository = NotificationRepository(session)
        for number in range(count):
            stored, _ = await repository.claim(
                Notification(
                    id=new_id("ntf"),
                    user_id=user_id,
                    channel="email",
                    template="welcome",
                    recipient=f"{user_id}@example.com",
                    subject=f"Notification {number}",
                    body="Hi,\n",
                    cause_event_id=new_id("evt"),
                    status="sending",
                    created_at=datetime.now(UTC),
                    sent_at=None,
                )
            )
            await repository.mark_sent(stored.id, datetime.now(UTC))
            ids.append(stored.id)
    return ids


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


async def test_a_user_sees_only_their_own_notifications_newest_first(
    api: httpx.AsyncClient, database: Database, key_ring: KeyRing
) -> None:
    ann, bob = new_id("usr"), new_id("usr")
    ann_ids = await _seed(database, ann, 3)
    await _seed(database, bob, 2)

    response = await api.get("/v1/notifications", headers=_auth(key_ring, ann))
    assert response.status_code == 200, response.text
    page = response.json()
    assert [item["id"] for item in page["items"]] == ann_ids[::-1]
    assert page["next_cursor"] is None
    first = page["items"][0]
    assert set(first) == {
        "id",
        "channel",
        "template",
        "recipient",
        "subject",
        "body",
        "status",
        "created_at",
        "sent_at",
    }
    assert (first["channel"], first["template"], first["status"]) == ("email", "welcome", "sent")
    assert first["recipient"] == f"{ann}@example.com"


async def test_a_user_without_notifications_gets_an_empty_page(
    api: httpx.AsyncClient, key_ring: KeyRing
) -> None:
    response = await api.get("/v1/notifications", headers=_auth(key_ring, new_id("usr")))
    assert response.json() == {"items": [], "next_cursor": None}


async def test_pages_follow_the_cursor_to_the_end(
    api: httpx.AsyncClient, database: Database, key_ring: KeyRing
) -> None:
    user = new_id("usr")
    ids = await _seed(database, user, 5)
    headers = _auth(key_ring, user)
    seen: list[list[str]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/notifications", params=params, headers=headers)).json()
        seen.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [ids[4:2:-1], ids[2:0:-1], ids[0:1]]


async def test_a_cursor_does_not_leak_another_users_notifications(
    api: httpx.AsyncClient, database: Database, key_ring: KeyRing
) -> None:
    ann, bob = new_id("usr"), new_id("usr")
    await _seed(database, ann, 3)
    bob_ids = await _seed(database, bob, 1)
    first = (
        await api.get("/v1/notifications", params={"limit": 1}, headers=_auth(key_ring, ann))
    ).json()
    page = (
        await api.get(
            "/v1/notifications",
            params={"limit": 100, "cursor": first["next_cursor"]},
            headers=_auth(key_ring, ann),
        )
    ).json()
    assert bob_ids[0] not in [item["id"] for item in page["items"]]
    assert len(page["items"]) == 2


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 !",
        base64.urlsafe_b64encode(b"usr_01jz3k8w6x9a2b4c5d6e7f8g9h").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "",
    ],
)
async def test_a_cursor_we_did_not_issue_is_a_400_problem(
    api: httpx.AsyncClient, key_ring: KeyRing, cursor: str
) -> None:
    response = await api.get(
        "/v1/notifications", params={"cursor": cursor}, headers=_auth(key_ring, new_id("usr"))
    )
    assert _problem(response, 400)["type"] == "urn:flotilla:problem:invalid-cursor"


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
async def test_a_limit_out_of_range_is_a_422_problem(
    api: httpx.AsyncClient, key_ring: KeyRing, limit: str
) -> None:
    response = await api.get(
        "/v1/notifications", params={"limit": limit}, headers=_auth(key_ring, new_id("usr"))
    )
    _problem(response, 422)


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer not.a.token", "Basic dXNlcjpwYXNz"]
)
async def test_no_or_a_bad_token_is_a_401_problem(
    api: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    response = await api.get("/v1/notifications", headers=headers)
    _problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_an_expired_or_foreign_token_is_a_401_problem(
    api: httpx.AsyncClient, key_ring: KeyRing, tmp_path: Path
) -> None:
    expired = _auth(key_ring, new_id("usr"), ttl_s=-120)
    assert "expired" in _problem(await api.get("/v1/notifications", headers=expired), 401)["detail"]

    forged = _auth(new_key_ring(tmp_path), new_id("usr"))
    _problem(await api.get("/v1/notifications", headers=forged), 401)

    wrong_audience = _auth(key_ring, new_id("usr"), audience="someone-else")
    _problem(await api.get("/v1/notifications", headers=wrong_audience), 401)
