"""The servicekit app of the HTTP benchmark (bench/http_servers.py `stack`): `GET /ping` as the
other servers answer it, `POST /notes` (idempotent) and `POST /plain-notes` (the same handler,
exempt from idempotency), each inserting one row into `bench_http.notes`, and `GET /pool`: how
many connections its pool has opened since it started (a warm pool opens none).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status
from pydantic import BaseModel
from sqlalchemy import Column, MetaData, String, Table, event

from servicekit.app import create_app
from servicekit.db.session import SessionDep
from servicekit.idempotency import IdempotentRoute, add_idempotency_table, idempotency_exempt
from servicekit.server import serve
from servicekit.settings import ServiceSettings

SCHEMA = "bench_http"
metadata = MetaData()
notes = Table("notes", metadata, Column("id", String(40), primary_key=True), Column("text", String))
add_idempotency_table(metadata)


class NoteIn(BaseModel):
    text: str


async def ping() -> dict[str, str]:
    return {"status": "ok"}


async def connections_opened(request: Request) -> dict[str, int]:
    return {"opened": request.app.state.connections_opened}


def stack_router() -> APIRouter:
    router = APIRouter(route_class=IdempotentRoute)
    router.add_api_route("/ping", ping)
    router.add_api_route("/pool", connections_opened)

    async def add_note(body: NoteIn, session: SessionDep) -> dict[str, str]:
        note_id = uuid.uuid4().hex
        await session.execute(notes.insert().values(id=note_id, text=body.text))
        return {"id": note_id, "text": body.text}

    router.add_api_route("/notes", add_note, methods=["POST"], status_code=status.HTTP_201_CREATED)
    router.add_api_route(
        "/plain-notes",
        add_note,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        openapi_extra=idempotency_exempt("the benchmark's baseline"),
    )
    return router


def stack_settings(port: int, database_url: str, sampler_ratio: float = 1.0) -> ServiceSettings:
    return ServiceSettings(
        service_name=SCHEMA,
        db_schema=SCHEMA,
        database_url=database_url,
        http_host="127.0.0.1",
        http_port=port,
        otel_traces_sampler="parentbased_traceidratio",
        otel_traces_sampler_arg=str(sampler_ratio),
    )


def serve_notes(port: int, database_url: str, sampler_ratio: float = 1.0) -> None:
    settings = stack_settings(port, database_url, sampler_ratio)
    app = create_app(settings, routers=[stack_router()])
    app.state.connections_opened = 0

    def opened(*_: object) -> None:
        app.state.connections_opened += 1

    event.listen(app.state.database.engine.sync_engine, "connect", opened)
    serve(app, settings)
