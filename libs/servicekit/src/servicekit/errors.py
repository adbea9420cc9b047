"""RFC 9457 problem details for every error a service returns.

Handlers raise `ProblemError` (or a subclass) for expected failures; the app factory installs
exception handlers that turn those, validation errors, HTTP errors and unavailable
dependencies into `application/problem+json` — never a stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Send

from servicekit.db.errors import DATABASE_UNAVAILABLE_ERRORS, is_database_unavailable
from servicekit.request_context import current_request_id

__all__ = [
    "PROBLEM_JSON",
    "ProblemError",
    "ServiceUnavailable",
    "install_problem_handlers",
    "problem_body",
    "problem_response",
    "send_problem",
]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "urn:flotilla:problem:"


class ProblemError(Exception):
    """An expected failure with an HTTP status; its detail is safe to show the client."""

    status: int = 400
    slug: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        slug: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if slug is not None:
            self.slug = slug
        self.title = title
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})


class ServiceUnavailable(ProblemError):
    status = 503
    slug = "dependency-unavailable"


def problem_body(
    status: int,
    detail: str | None = None,
    *,
    slug: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"{_TYPE_BASE}{slug}" if slug else "about:blank",
        "title": title or _reason(status),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    body.update(extensions or {})
    return body


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    slug: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> Response:
    body = problem_body(
        status, detail, slug=slug, title=title, instance=instance, extensions=extensions
    )
    return Response(
        json.dumps(body), status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


async def send_problem(
    send: Send,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Send a problem from raw ASGI middleware (outside FastAPI's exception handlers)."""
    payload = json.dumps(problem_body(status, detail, slug=slug)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(DBAPIError, _on_database_error)
    for error_type in DATABASE_UNAVAILABLE_ERRORS:  # subclasses: their handler wins
        app.add_exception_handler(error_type, _on_database_unavailable)


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        exc.detail,
        slug=exc.slug,
        title=exc.title,
        instance=request.url.path,
        headers=exc.headers,
        extensions=exc.extensions,
    )


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]
    if any(error["type"] == "json_invalid" for error in errors):
        return problem_response(
            400,
            "The request body is not valid JSON.",
            slug="malformed-json",
            instance=request.url.path,
            extensions={"errors": errors},
        )
    return problem_response(
        422,
        "The request does not match the schema; see `errors`.",
        slug="validation-error",
        instance=request.url.path,
        extensions={"errors": errors},
    )


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = (
        exc.detail
        if isinstance(exc.detail, str) and exc.detail != _reason(exc.status_code)
        else None
    )
    slug = getattr(exc, "slug", None)
    return problem_response(
        exc.status_code, detail, slug=slug, instance=request.url.path, headers=exc.headers
    )


_DATA_EXCEPTION = "22"
"""SQLSTATE class 22, data exception: a value the column cannot hold (a NUL in text, a number
out of range, an invalid date) — the request's fault, whatever validation let through."""


async def _on_database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    if is_database_unavailable(exc):  # the connection died under the statement
        return await _on_database_unavailable(request, exc)
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    if not sqlstate.startswith(_DATA_EXCEPTION):
        raise exc  # a bug or an outage: the 500 path logs it (engines hide parameters)
    # The statement and its parameters stay out of the log: they are the client's data.
    log.warning("request refused by a database data check", extra={"sqlstate": sqlstate})
    return problem_response(
        422,
        "A value in the request cannot be stored; check the fields' formats and ranges.",
        slug="invalid-value",
        instance=request.url.path,
    )


async def _on_database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable", extra={"error_type": type(exc).__name__})
    return problem_response(
        503,
        "The database is unavailable; retry shortly.",
        slug="dependency-unavailable",
        instance=request.url.path,
        headers={"Retry-After": "1"},
        extensions={"dependency": "database"},
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
