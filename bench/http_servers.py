"""The servers the HTTP benchmark measures, each run as its own process:

    python bench/http_servers.py bare PORT                  # bare FastAPI under uvicorn
    python bench/http_servers.py stack PORT DATABASE_URL [SAMPLER_RATIO]
                                                            # servicekit's create_app + serve
    python bench/http_servers.py ecosystem PORT [SAMPLER_RATIO]
                                                            # FastAPI + the ecosystem's parts
    python bench/http_servers.py downstream PORT            # a trivial downstream for clients

Every app answers `GET /ping` the same way; `stack` (bench/notes_app.py) also has `POST /notes`
(idempotent) and `POST /plain-notes` (the same handler, exempt), which insert one row each.
`ecosystem` needs the bench dependency group (pyproject.toml; `make bench` installs it).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable

import uvicorn
from fastapi import FastAPI, Request, Response


async def ping() -> dict[str, str]:
    return {"status": "ok"}


def bare_app() -> FastAPI:
    app = FastAPI()
    app.add_api_route("/ping", ping)
    return app


def ecosystem_app(sampler_ratio: float) -> FastAPI:
    """The stack a team assembles from the ecosystem for what servicekit's chassis does on
    `GET /ping`: OpenTelemetry's FastAPI instrumentation (server spans, sampled at the same
    ratio, exported nowhere, as the stack's are in this benchmark), prometheus-fastapi-
    instrumentator (request metrics, and `/metrics`), asgi-correlation-id (the request id) and
    a JSON access line per request, written by an `@app.middleware("http")` function as
    FastAPI's documentation shows. Imported here, not at the top: only the bench group has
    them."""
    from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
    from opentelemetry import trace
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio
    from prometheus_fastapi_instrumentator import Instrumentator

    access = logging.getLogger("ecosystem.access")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_JsonLines())
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False

    app = FastAPI()
    app.add_api_route("/ping", ping)

    @app.middleware("http")
    async def access_line(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        span = trace.get_current_span().get_span_context()
        access.info(
            "request",
            extra={
                "http": {
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
                "request_id": correlation_id.get(),
                "trace_id": format(span.trace_id, "032x") if span.is_valid else None,
            },
        )
        return response

    app.add_middleware(CorrelationIdMiddleware)
    Instrumentator().instrument(app).expose(app)
    provider = TracerProvider(sampler=ParentBasedTraceIdRatio(sampler_ratio))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    return app


class _JsonLines(logging.Formatter):
    _FIELDS = ("http", "request_id", "trace_id")

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({name: getattr(record, name) for name in self._FIELDS if hasattr(record, name)})
        return json.dumps(line)


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "stack":
        # Imported here: servicekit's imports must not weigh on the bare server's start and
        # memory, which bench/services.py takes as the floor.
        from notes_app import serve_notes

        serve_notes(port, sys.argv[3], *map(float, sys.argv[4:5]))
    elif kind == "ecosystem":
        ratio = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
        app = ecosystem_app(ratio)
        uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")
    elif kind in ("bare", "downstream"):
        uvicorn.run(bare_app(), host="127.0.0.1", port=port, access_log=False, log_level="warning")
    else:
        raise SystemExit(f"unknown server kind {kind!r}: bare, stack, ecosystem or downstream")


if __name__ == "__main__":
    main()
