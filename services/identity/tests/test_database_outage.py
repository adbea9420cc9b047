"""Postgres going away is a 503 naming the database, and its return heals without a restart."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from devstack.postgres import PostgresCluster
from devstack.stack import Stack
from identity.main import build_app
from identity.settings import IdentitySettings
from servicekit.auth import write_new_signing_key
from servicekit.db import bootstrap_database


async def test_readiness_and_requests_follow_the_database(
    own_postgres: PostgresCluster, tmp_path: Path, test_stack: Stack
) -> None:
    own_postgres.ensure_database("flotilla")
    write_new_signing_key(tmp_path / "jwt", "key.pem")
    url = f"postgresql+asyncpg://identity:{secrets.token_hex(8)}@127.0.0.1:{own_postgres.port}/flotilla"
    settings = IdentitySettings(
        database_url=url,
        jwt_keys_dir=tmp_path / "jwt",
        log_format="console",
        environment="test",
        **test_stack.kafka_admin_settings(),
    )
    await bootstrap_database(
        settings,
        own_postgres.admin_dsn("flotilla", driver="postgresql+asyncpg"),
        "identity:migrations",
    )
    sign_up = {"email": "outage@example.com", "password": "long enough password", "name": "O"}
    app = build_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            assert (await client.get("/readyz")).status_code == 200

            own_postgres.stop()
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["failed"] == ["database"]
            # One operation, one key: the 503 is not stored, so the retry runs it.
            key = {"Idempotency-Key": "outage-sign-up"}
            refused = await client.post("/v1/users", json=sign_up, headers=key)
            assert refused.status_code == 503
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["dependency"] == "database"
            assert refused.headers["retry-after"] == "1"
            assert (await client.get("/livez")).status_code == 200

            own_postgres.start()
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.post("/v1/users", json=sign_up, headers=key)).status_code == 201
