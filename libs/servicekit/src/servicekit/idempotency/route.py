"""`IdempotentRoute`: Idempotency-Key semantics for every mutating route (README, Idempotency keys).

    router = APIRouter(route_class=IdempotentRoute)

A request with a key is first looked up, outside any transaction (one statement in autocommit, on
the connection the request then keeps): a live record with the same fingerprint is replayed
(`Idempotent-Replayed: true`), one with another fingerprint is a 422. Otherwise the route runs
in a transaction opened here on that same connection — the one its `SessionDep` gets —
and its 2xx response is inserted as the key's record as the last statement before commit, so
the record and the handler's writes commit together or not at all. A concurrent duplicate in
the same process waits before running anything (`key_locks`); one in another replica runs,
then waits on the first one's uncommitted row (or on the handler's own locks), rolls back and
replays what the first one committed. Past the lock timeout either gets 409 with Retry-After.
Deterministic 4xx results are stored in a transaction of their own (the handler's writes
having been rolled back); 5xx results are never stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from servicekit.auth.dependencies import principal_of
from servicekit.db.engine import Database
from servicekit.db.session import SESSION_SCOPE_KEY
from servicekit.errors import ProblemError
from servicekit.idempotency.fingerprint import request_fingerprint
from servicekit.idempotency.key_locks import KeyLocks, KeyLockTimeout
from servicekit.idempotency.records import StoredResponse, find_record, insert_record
from servicekit.observability.metrics import IDEMPOTENCY_REQUESTS

__all__ = [
    "IDEMPOTENCY_KEY_HEADER",
    "REPLAYED_HEADER",
    "IdempotentRoute",
    "guarded_routes",
    "idempotency_exempt",
    "unguarded_mutating_routes",
]

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KEY_REQUIRED = frozenset({"POST", "PATCH"})
_EXEMPT_MARK = "x-idempotency-exempt"
_ANONYMOUS = "anonymous"
_MAX_KEY_LENGTH = 255
# Client errors that the same request would get again; 401/403/408/429 depend on time or
# credentials and are answered afresh.
_DETERMINISTIC_CLIENT_ERRORS = frozenset({400, 404, 405, 409, 410, 415, 422})
_REPLAYED_HEADERS = ("content-type", "location", "etag", "link")
_LOCK_NOT_AVAILABLE = "55P03"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def idempotency_exempt(reason: str) -> dict[str, Any]:
    """`openapi_extra` for a mutating route that changes no state (say why)."""
    return {_EXEMPT_MARK: reason}


def is_exempt(route: APIRoute) -> bool:
    return bool(route.openapi_extra and route.openapi_extra.get(_EXEMPT_MARK))


class _LostRace(Exception):
    """A concurrent duplicate committed the key first; this transaction must roll back."""


class IdempotentRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        mutating = self.methods & MUTATING_METHODS
        if mutating and not is_exempt(self):
            required = bool(mutating & _KEY_REQUIRED)
            self.openapi_extra = _with_key_parameter(self.openapi_extra, required=required)

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        if not self.methods & MUTATING_METHODS or is_exempt(self):
            return handler

        async def idempotent_handler(request: Request) -> Response:
            return await _handle(request, handler)

        return idempotent_handler


async def _handle(request: Request, handler: Handler) -> Response:
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is None:
        if request.method in _KEY_REQUIRED:
            IDEMPOTENCY_REQUESTS.labels("missing_key").inc()
            raise ProblemError(
                f"An {IDEMPOTENCY_KEY_HEADER} header is required on {request.method}: a unique "
                "value (a UUID) per intended operation, reused when retrying it.",
                status=400,
                slug="idempotency-key-missing",
            )
        return await handler(request)
    if not 0 < len(key) <= _MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        IDEMPOTENCY_REQUESTS.labels("missing_key").inc()
        raise ProblemError(
            f"The {IDEMPOTENCY_KEY_HEADER} must be 1 to {_MAX_KEY_LENGTH} printable ASCII "
            "characters.",
            status=400,
            slug="idempotency-key-invalid",
        )
    principal = await principal_of(request)
    scope = principal.subject if principal else _ANONYMOUS
    fingerprint = request_fingerprint(
        request.method, request.scope["path"], request.url.query, await request.body()
    )
    settings = request.app.state.settings
    locks: KeyLocks = request.app.state.idempotency_key_locks
    try:
        async with locks.hold((scope, key), timeout_s=settings.db_lock_timeout_ms / 1000):
            return await _handle_alone(request, handler, scope, key, fingerprint)
    except KeyLockTimeout:
        raise _in_progress() from None


async def _handle_alone(
    request: Request, handler: Handler, scope: str, key: str, fingerprint: str
) -> Response:
    """The request's key handled as the only one with that key in this process.

    One connection serves the whole request: the look-up (one statement in autocommit), then
    the handler's transaction, and any replay or stored 4xx after it."""
    database: Database = request.app.state.database
    ttl = timedelta(seconds=request.app.state.settings.idempotency_ttl_s)
    async with database.engine.connect() as connection:
        stored = await find_record(connection, scope, key)
        if stored is not None:
            return _replay(stored, fingerprint, "replayed")
        session = database.sessions(bind=connection)
        try:
            return await _run_and_store(request, handler, session, scope, key, fingerprint, ttl)
        except _LostRace:
            return await _replay_winner(connection, fingerprint, scope, key)
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            raise _in_progress() from None
        except (ProblemError, StarletteHTTPException, RequestValidationError) as error:
            rendered = await _render(request, error)
            if rendered.status_code not in _DETERMINISTIC_CLIENT_ERRORS or "retry-after" in (
                rendered.headers
            ):
                IDEMPOTENCY_REQUESTS.labels("not_stored").inc()
                raise
            async with database.sessions(bind=connection) as session, session.begin():
                stored_4xx = _stored(rendered, fingerprint)
                inserted = await insert_record(session, scope, key, stored_4xx, ttl)
            if not inserted:
                # Typically a unique violation caused by a concurrent duplicate's commit.
                return await _replay_winner(connection, fingerprint, scope, key)
            IDEMPOTENCY_REQUESTS.labels("stored").inc()
            return rendered


def _in_progress() -> ProblemError:
    IDEMPOTENCY_REQUESTS.labels("in_progress").inc()
    return ProblemError(
        "A request with this Idempotency-Key is still in progress; retry shortly.",
        status=409,
        slug="idempotency-key-in-progress",
        headers={"Retry-After": "1"},
    )


async def _run_and_store(
    request: Request,
    handler: Handler,
    session: AsyncSession,
    scope: str,
    key: str,
    fingerprint: str,
    ttl: timedelta,
) -> Response:
    async with session:
        request.scope[SESSION_SCOPE_KEY] = session
        try:
            async with session.begin():
                response = await handler(request)
                if not 200 <= response.status_code < 300 or not hasattr(response, "body"):
                    IDEMPOTENCY_REQUESTS.labels("not_stored").inc()
                    return response
                stored = _stored(response, fingerprint)
                if not await insert_record(session, scope, key, stored, ttl):
                    raise _LostRace
        finally:
            del request.scope[SESSION_SCOPE_KEY]
    IDEMPOTENCY_REQUESTS.labels("stored").inc()
    return response


async def _replay_winner(
    connection: AsyncConnection, fingerprint: str, scope: str, key: str
) -> Response:
    stored = await find_record(connection, scope, key)
    if stored is None:  # the winner's record expired in between: vanishingly rare
        raise ProblemError(
            "A concurrent request with this Idempotency-Key finished; retry to read its result.",
            status=409,
            slug="idempotency-key-in-progress",
            headers={"Retry-After": "1"},
        )
    return _replay(stored, fingerprint, "raced")


def _replay(stored: StoredResponse, fingerprint: str, outcome: str) -> Response:
    if stored.fingerprint != fingerprint:
        IDEMPOTENCY_REQUESTS.labels("mismatch").inc()
        raise ProblemError(
            "This Idempotency-Key was already used for a different request (method, path or "
            "body); use a new key for a new operation.",
            status=422,
            slug="idempotency-key-reused",
        )
    IDEMPOTENCY_REQUESTS.labels(outcome).inc()
    return Response(
        stored.body,
        status_code=stored.status_code,
        headers={**stored.headers, REPLAYED_HEADER: "true"},
    )


def _stored(response: Response, fingerprint: str) -> StoredResponse:
    headers = {
        name: response.headers[name] for name in _REPLAYED_HEADERS if name in response.headers
    }
    return StoredResponse(fingerprint, response.status_code, headers, bytes(response.body))


async def _render(request: Request, error: Exception) -> Response:
    """The response the app's exception handlers give for `error`."""
    handlers: Mapping[Any, Any] = request.app.exception_handlers
    for error_type in type(error).__mro__:
        if error_type in handlers:
            response: Response = await handlers[error_type](request, error)
            return response
    raise error


def _with_key_parameter(extra: dict[str, Any] | None, *, required: bool) -> dict[str, Any]:
    parameter = {
        "name": IDEMPOTENCY_KEY_HEADER,
        "in": "header",
        "required": required,
        "description": (
            "A unique value per intended operation (a UUID), reused when retrying it: a retry "
            "replays the first result with `Idempotent-Replayed: true`. Records expire after 24 h."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": _MAX_KEY_LENGTH},
    }
    merged = dict(extra or {})
    existing = merged.get("parameters", [])
    # include_router re-creates routes from their openapi_extra, which already has it.
    if not any(p.get("name") == IDEMPOTENCY_KEY_HEADER for p in existing):
        merged["parameters"] = [*existing, parameter]
    return merged


def unguarded_mutating_routes(routes: Sequence[BaseRoute]) -> list[str]:
    """Mutating API routes that neither use IdempotentRoute nor declare an exemption."""
    return [
        f"{','.join(sorted(route.methods & MUTATING_METHODS))} {route.path}"
        for route in routes
        if isinstance(route, APIRoute)
        and route.methods & MUTATING_METHODS
        and not isinstance(route, IdempotentRoute)
        and not is_exempt(route)
    ]


def guarded_routes(routes: Sequence[BaseRoute]) -> list[APIRoute]:
    """Routes whose requests write idempotency records."""
    return [
        route
        for route in routes
        if isinstance(route, IdempotentRoute)
        and route.methods & MUTATING_METHODS
        and not is_exempt(route)
    ]
