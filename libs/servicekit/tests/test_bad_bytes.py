"""No 500 from bad bytes: a NUL character anywhere in a request is a 422 problem before any
handler runs, a value the database refuses is a 422, and neither an error nor a log line
carries the statement's parameters — against real Postgres."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel
from sqlalchemy import text

from servicekit.app import create_app
from servicekit.db.bootstrap import ensure_role_and_schema, role_spec
from servicekit.db.engine import Database
from servicekit.db.session import SessionDep
from servicekit.idempotency import idempotency_exempt
from servicekit.settings import ServiceSettings

router = APIRouter()
SECRET = "hunter2-never-logged@example.com"


class Note(BaseModel):
    text: str


@router.post("/notes", openapi_extra=idempotency_exempt("a chassis test route"))
async def add_note(body: Note, session: SessionDep) -> dict[str, str]:
    # Would be a Postgres data error (22021) if a NUL got this far.
    stored = (await session.execute(text("SELECT CAST(:t AS text)"), {"t": body.text})).scalar()
    return {"stored": str(stored)}


@router.post("/raw", openapi_extra=idempotency_exempt("reads its body itself"))
async def raw(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


@router.get("/search")
async def search(q: Annotated[str, Query()]) -> dict[str, str]:
    return {"q": q}


@router.get("/small")
async def small(session: SessionDep, n: int) -> dict[str, int]:
    # 22003 numeric_value_out_of_range above 32767: the request's fault, not the server's.
    value = (await session.execute(text("SELECT CAST(:n AS smallint)"), {"n": n})).scalar()
    return {"n": int(value or 0)}


@router.get("/broken")
async def broken(session: SessionDep) -> None:
    # 42P01 undefined_table: a bug, a 500 — whose log must not carry the parameter.
    await session.execute(text("SELECT * FROM no_such_table WHERE x = :x"), {"x": SECRET})


@pytest.fixture(scope="module")
async def settings(scratch_database: Callable[[str, str], tuple[str, str]]) -> ServiceSettings:
    admin_url, service_url = scratch_database("badbytes_it", "probe")
    settings = ServiceSettings(
        service_name="probe", db_schema="probe", database_url=service_url, log_format="json"
    )
    await ensure_role_and_schema(admin_url, role_spec(settings))
    return settings


@pytest.fixture
async def client(settings: ServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    database = Database.from_settings(settings)
    app: FastAPI = create_app(settings, routers=[router], database=database)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
            yield http
    await database.dispose()


def _nul_problem(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:flotilla:problem:nul-character"


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "a\\u0000b"}',
        b'{"text": "a\\U0000b"}',
        b'{"text": "\\\\\\u0000"}',  # an escaped backslash, then an escaped NUL
        b'{"te\\u0000xt": "key"}',
        b'{"text": "a\x00b"}',  # a raw NUL byte
    ],
)
async def test_a_nul_in_a_json_body_is_a_422_problem(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/notes", content=body, headers={"content-type": "application/json"}
    )
    _nul_problem(response)


async def test_an_escaped_backslash_before_u0000_is_just_text(client: httpx.AsyncClient) -> None:
    response = await client.post("/notes", json={"text": "C:\\u0000"})
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": "C:\\u0000"}


async def test_a_nul_split_across_streamed_chunks_is_found(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "a\\u00'
        yield b'00b"}'

    response = await client.post(
        "/notes", content=chunks(), headers={"content-type": "application/json"}
    )
    _nul_problem(response)


async def test_a_nul_in_a_body_the_route_reads_itself_is_refused(
    client: httpx.AsyncClient,
) -> None:
    _nul_problem(await client.post("/raw", content=b"\x00"))
    assert (await client.post("/raw", content=b"fine")).json() == {"bytes": 4}


@pytest.mark.parametrize("query", ["q=a%00b", "q=%00", "q=ok&other=%00"])
async def test_a_nul_in_the_query_is_a_422_problem(client: httpx.AsyncClient, query: str) -> None:
    _nul_problem(await client.get(f"/search?{query}"))


async def test_a_value_the_database_refuses_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/small", params={"n": 100_000})
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "urn:flotilla:problem:invalid-value"
    assert "100000" not in response.text
    assert (await client.get("/small", params={"n": 7})).json() == {"n": 7}


async def test_a_database_error_never_logs_its_parameters(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = await client.get("/broken")
    assert response.status_code == 500
    assert SECRET not in response.text
    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {record.__dict__}"
        for record in caplog.records
    )
    assert "no_such_table" in logged  # the error is logged, with its statement
    assert SECRET not in logged


def test_every_engine_hides_parameters(settings: ServiceSettings) -> None:
    assert Database.from_settings(settings).engine.sync_engine.hide_parameters


@pytest.mark.parametrize(
    ("http_version", "body", "status"),
    [
        # HTTP/2 may send a body with no length; HTTP/1.1 with a transfer encoding instead.
        pytest.param("2", b'{"text": "a\\u0000b"}', 422, id="http2-nul"),
        pytest.param("2", b'{"text": "' + b"x" * 2_000_000 + b'"}', 413, id="http2-oversized"),
        pytest.param("1.1", b'{"text": "a\\u0000b"}', 422, id="http1.1-chunked-nul"),
    ],
)
async def test_a_body_no_header_announced_is_guarded_too(
    settings: ServiceSettings, http_version: str, body: bytes, status: int
) -> None:
    app: FastAPI = create_app(settings, routers=[router])
    headers = [(b"content-type", b"application/json")]
    if http_version == "1.1":
        headers.append((b"transfer-encoding", b"chunked"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": http_version,
        "method": "POST",
        "scheme": "http",
        "path": "/raw",
        "raw_path": b"/raw",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    chunks = [body[:10], body[10:]]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app(scope, receive, send)

    assert sent[0]["status"] == status
