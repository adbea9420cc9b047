"""The servers the HTTP benchmark measures, each run as its own process:

    python bench/http_servers.py bare PORT                  # bare FastAPI under uvicorn
    python bench/http_servers.py stack PORT DATABASE_URL [SAMPLER_RATIO]
                                                            # servicekit's create_app + serve
    python bench/http_servers.py downstream PORT            # a trivial downstream for clients

Both apps answer `GET /ping` the same way; `stack` also has `POST /notes` (idempotent) and
`POST /plain-notes` (the same handler, exempt), which insert one row each.
"""

from __future__ import annotations

import sys
import uuid

import uvicorn
from fastapi import APIRouter, FastAPI, status
from pydantic import BaseModel
from sqlalchemy import Column, MetaData, String, Table

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


def bare_app() -> FastAPI:
    app = FastAPI()
    app.add_api_route("/ping", ping)
    return app


def stack_router() -> APIRouter:
    router = APIRouter(route_class=IdempotentRoute)
    router.add_api_route("/ping", ping)

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


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "stack":
        settings = stack_settings(port, sys.argv[3], *map(float, sys.argv[4:5]))
        serve(create_app(settings, routers=[stack_router()]), settings)
    elif kind in ("bare", "downstream"):
        uvicorn.run(bare_app(), host="127.0.0.1", port=port, access_log=False, log_level="warning")
    else:
        raise SystemExit(f"unknown server kind {kind!r}: bare, stack or downstream")


if __name__ == "__main__":
    main()
