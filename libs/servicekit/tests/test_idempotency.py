"""Idempotency-Key semantics of every mutating route, on a small app over real Postgres."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, FastAPI, Response, status
from pydantic import BaseModel
from sqlalchemy import Column, MetaData, String, Table, func, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from servicekit.app import create_app
from servicekit.auth.dependencies import install_token_verifier
from servicekit.auth.jwks import LocalKeySource
from servicekit.auth.keys import KeyRing, load_key_ring
from servicekit.auth.tokens import TokenVerifier, issue_access_token
from servicekit.db.bootstrap import ensure_role_and_schema, role_spec
from servicekit.db.engine import Database
from servicekit.db.session import SessionDep
from servicekit.errors import ProblemError
from servicekit.idempotency import (
    IDEMPOTENCY_RECORDS,
    IdempotencyPurger,
    IdempotentRoute,
    add_idempotency_table,
)
from servicekit.settings import ServiceSettings

metadata = MetaData()
notes = Table("notes", metadata, Column("id", String(40), primary_key=True), Column("text", String))
add_idempotency_table(metadata)


class NoteIn(BaseModel):
    text: str


router = APIRouter(route_class=IdempotentRoute)


@router.post("/notes", status_code=status.HTTP_201_CREATED)
async def add_note(body: NoteIn, session: SessionDep, response: Response) -> dict[str, str]:
    note_id = f"note_{uuid.uuid4().hex}"
    await session.execute(notes.insert().values(id=note_id, text=body.text))
    if body.text.startswith("slow"):
        await asyncio.sleep(0.5)  # holds the transaction open, like a slow handler would
    if body.text == "crash":
        raise RuntimeError("the handler failed after writing")
    if body.text == "taken":
        raise ProblemError("That text is taken.", status=409, slug="taken")
    response.headers["Location"] = f"/notes/{note_id}"
    return {"id": note_id, "text": body.text}


@router.put("/notes/{note_id}")
async def put_note(note_id: str, body: NoteIn, session: SessionDep) -> dict[str, str]:
    await session.execute(notes.delete().where(notes.c.id == note_id))
    await session.execute(notes.insert().values(id=note_id, text=body.text))
    return {"id": note_id, "text": body.text}


@router.delete("/notes/{note_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_note(note_id: str, session: SessionDep) -> None:
    await session.execute(notes.delete().where(notes.c.id == note_id))


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@pytest.fixture(scope="module")
async def settings(scratch_database: Callable[[str, str], tuple[str, str]]) -> ServiceSettings:
    admin_url, service_url = scratch_database("idem_it", "idem_it")
    settings = ServiceSettings(
        service_name="idem_it", db_schema="idem_it", database_url=service_url
    )
    spec = role_spec(settings)
    await ensure_role_and_schema(admin_url, spec)
    engine = create_async_engine(
        service_url,
        poolclass=NullPool,
        connect_args={"server_settings": {"search_path": "idem_it"}},
    )
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.run_sync(metadata.create_all)
    await engine.dispose()
    return settings


@pytest.fixture(scope="module")
def key_ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    folder: Path = tmp_path_factory.mktemp("keys")
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / "key-1.pem").write_bytes(pem)
    return load_key_ring(folder)


def _build(settings: ServiceSettings, ring: KeyRing) -> FastAPI:
    app = create_app(settings, routers=[router])
    install_token_verifier(
        app, TokenVerifier(LocalKeySource(ring), issuer="idp", audience="flotilla")
    )
    return app


@pytest.fixture
async def client(settings: ServiceSettings, key_ring: KeyRing) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(_build(settings, key_ring)) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://idem") as client:
            yield client


@pytest.fixture
async def database(settings: ServiceSettings) -> AsyncIterator[Database]:
    database = Database.from_settings(settings)
    yield database
    await database.dispose()


async def _count_notes(database: Database, note_text: str) -> int:
    async with database.transaction() as session:
        count = await session.scalar(
            select(func.count()).select_from(notes).where(notes.c.text == note_text)
        )
    return int(count or 0)


async def test_a_post_without_a_key_is_refused_before_anything_runs(
    client: httpx.AsyncClient, database: Database
) -> None:
    note_text = f"keyless-{uuid.uuid4().hex}"
    response = await client.post("/notes", json={"text": note_text})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:flotilla:problem:idempotency-key-missing"
    assert await _count_notes(database, note_text) == 0


async def test_a_retry_replays_the_first_response_and_runs_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    note_text = f"once-{uuid.uuid4().hex}"
    key = _key()
    first = await client.post("/notes", json={"text": note_text}, headers=key)
    # Same JSON, other key order and spacing: the same request.
    again = await client.post(
        "/notes", content=f'{{ "text" : "{note_text}" }}'.encode(), headers=key
    )
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _count_notes(database, note_text) == 1


async def test_the_same_key_for_another_request_is_a_422(client: httpx.AsyncClient) -> None:
    key = _key()
    assert (await client.post("/notes", json={"text": "a"}, headers=key)).status_code == 201
    other_body = await client.post("/notes", json={"text": "b"}, headers=key)
    other_route = await client.put("/notes/x", json={"text": "a"}, headers=key)
    for response in (other_body, other_route):
        assert response.status_code == 422
        assert response.json()["type"] == "urn:flotilla:problem:idempotency-key-reused"


async def test_keys_are_scoped_per_principal(
    client: httpx.AsyncClient, key_ring: KeyRing, database: Database
) -> None:
    note_text = f"scoped-{uuid.uuid4().hex}"
    key = _key()
    responses = []
    for subject in ("usr_ann", "usr_bob"):
        token = issue_access_token(
            key_ring, subject=subject, issuer="idp", audience="flotilla", ttl_s=60, roles=[]
        )
        responses.append(
            await client.post(
                "/notes",
                json={"text": note_text},
                headers={**key, "authorization": f"Bearer {token}"},
            )
        )
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json()["id"] != responses[1].json()["id"]
    assert await _count_notes(database, note_text) == 2


async def test_a_5xx_is_not_stored_and_nothing_it_wrote_remains(
    client: httpx.AsyncClient, database: Database
) -> None:
    key = _key()
    for _ in range(2):
        response = await client.post("/notes", json={"text": "crash"}, headers=key)
        assert response.status_code == 500
        assert "idempotent-replayed" not in response.headers
    assert await _count_notes(database, "crash") == 0


async def test_a_deterministic_4xx_is_stored_and_replayed(
    client: httpx.AsyncClient, database: Database
) -> None:
    key = _key()
    first = await client.post("/notes", json={"text": "taken"}, headers=key)
    again = await client.post("/notes", json={"text": "taken"}, headers=key)
    assert first.status_code == again.status_code == 409
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await _count_notes(database, "taken") == 0


async def test_concurrent_duplicates_run_once_and_answer_alike(
    client: httpx.AsyncClient, database: Database
) -> None:
    note_text = f"slow-{uuid.uuid4().hex}"
    key = _key()
    responses = await asyncio.gather(
        *(client.post("/notes", json={"text": note_text}, headers=key) for _ in range(20))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 19
    assert await _count_notes(database, note_text) == 1


async def test_duplicates_in_two_replicas_run_twice_but_commit_once(
    settings: ServiceSettings, key_ring: KeyRing, database: Database
) -> None:
    note_text = f"slow-{uuid.uuid4().hex}"
    key = _key()
    async with (
        LifespanManager(_build(settings, key_ring)) as first,
        LifespanManager(_build(settings, key_ring)) as second,
    ):
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=m.app), base_url="http://idem")
            for m in (first, second)
        ]
        responses = await asyncio.gather(
            *(c.post("/notes", json={"text": note_text}, headers=key) for c in clients)
        )
        for client in clients:
            await client.aclose()
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].content == responses[1].content
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 1
    assert await _count_notes(database, note_text) == 1


async def test_a_duplicate_waiting_past_the_lock_timeout_gets_a_409_with_retry_after(
    settings: ServiceSettings, key_ring: KeyRing, database: Database
) -> None:
    impatient = settings.model_copy(update={"db_lock_timeout_ms": 200})
    note_text = f"held-{uuid.uuid4().hex}"
    key = _key()
    async with LifespanManager(_build(impatient, key_ring)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://idem") as client:
            # Another request with this key, still running: its record written, not committed.
            async with database.sessions() as first, first.begin():
                await first.execute(
                    IDEMPOTENCY_RECORDS.insert().values(
                        principal="anonymous",
                        key=key["Idempotency-Key"],
                        fingerprint="0" * 64,
                        status_code=201,
                        headers={},
                        body=b"{}",
                        expires_at=func.now() + text("interval '1 hour'"),
                    )
                )
                duplicate = await client.post("/notes", json={"text": note_text}, headers=key)
                await first.rollback()
            retried = await client.post("/notes", json={"text": note_text}, headers=key)
    assert duplicate.status_code == 409
    assert duplicate.headers["retry-after"] == "1"
    assert duplicate.json()["type"] == "urn:flotilla:problem:idempotency-key-in-progress"
    assert retried.status_code == 201
    assert await _count_notes(database, note_text) == 1


async def test_put_and_delete_honour_a_key_but_do_not_require_one(
    client: httpx.AsyncClient,
) -> None:
    note_id = f"note_{uuid.uuid4().hex}"
    assert (await client.put(f"/notes/{note_id}", json={"text": "v1"})).status_code == 200
    key = _key()
    first = await client.put(f"/notes/{note_id}", json={"text": "v2"}, headers=key)
    await client.put(f"/notes/{note_id}", json={"text": "v3"})
    replay = await client.put(f"/notes/{note_id}", json={"text": "v2"}, headers=key)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    deleted = await client.delete(f"/notes/{note_id}", headers=key)
    assert deleted.status_code == 422  # the key already named the PUT
    assert (await client.delete(f"/notes/{note_id}")).status_code == 204


async def test_expired_records_are_purged_in_batches_and_their_keys_work_again(
    client: httpx.AsyncClient, database: Database
) -> None:
    note_text = f"expiring-{uuid.uuid4().hex}"
    keys = [_key() for _ in range(5)]
    for key in keys:
        await client.post("/notes", json={"text": note_text}, headers=key)
    async with database.transaction() as session:
        await session.execute(
            update(IDEMPOTENCY_RECORDS)
            .where(IDEMPOTENCY_RECORDS.c.key.in_([k["Idempotency-Key"] for k in keys[:3]]))
            .values(expires_at=func.now() - text("interval '1 second'"))
        )
    purged = await IdempotencyPurger(database, interval_s=60, batch_size=2).purge_once()
    assert purged[IDEMPOTENCY_RECORDS.name] >= 3
    again = await client.post("/notes", json={"text": note_text}, headers=keys[0])
    replayed = await client.post("/notes", json={"text": note_text}, headers=keys[4])
    assert "idempotent-replayed" not in again.headers
    assert replayed.headers["idempotent-replayed"] == "true"
    assert await _count_notes(database, note_text) == 6


def test_an_app_with_an_unguarded_mutating_route_refuses_to_build(
    settings: ServiceSettings,
) -> None:
    plain = APIRouter()

    @plain.post("/forgotten")
    async def forgotten() -> None:
        return None

    with pytest.raises(TypeError, match="POST /forgotten"):
        create_app(settings, routers=[plain])


def test_openapi_documents_the_key_once_required_on_post_optional_on_put(
    settings: ServiceSettings, key_ring: KeyRing
) -> None:
    paths = _build(settings, key_ring).openapi()["paths"]

    def key_parameters(operation: dict[str, object]) -> list[dict[str, object]]:
        parameters = operation.get("parameters", [])
        assert isinstance(parameters, list)
        return [p for p in parameters if p["name"] == "Idempotency-Key"]

    [on_post] = key_parameters(paths["/notes"]["post"])
    [on_put] = key_parameters(paths["/notes/{note_id}"]["put"])
    assert on_post["required"] is True
    assert on_put["required"] is False
