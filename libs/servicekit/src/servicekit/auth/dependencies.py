"""FastAPI dependencies: the caller's verified identity, and role checks for admin routes.

Wire a verifier once per app (`install_token_verifier`); routes then take `CurrentPrincipal`
or `AdminPrincipal`. Failures are 401/403 problems with a `WWW-Authenticate` challenge.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from servicekit.auth.tokens import InvalidToken, Principal, TokenVerifier
from servicekit.errors import ProblemError

__all__ = [
    "AdminPrincipal",
    "CurrentPrincipal",
    "install_token_verifier",
    "require_role",
]

_bearer = HTTPBearer(auto_error=False, description="An access token from identity's /v1/tokens")


def install_token_verifier(app: FastAPI, verifier: TokenVerifier) -> None:
    app.state.token_verifier = verifier


async def _current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ProblemError(
            "A bearer token is required.",
            status=401,
            slug="unauthenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        return await verifier.verify(credentials.credentials)
    except InvalidToken as error:
        raise ProblemError(
            f"The bearer token is not valid: {error}.",
            status=401,
            slug="invalid-token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from error


CurrentPrincipal = Annotated[Principal, Depends(_current_principal)]


def require_role(role: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.has_role(role):
            raise ProblemError(
                f"This operation requires the {role!r} role.", status=403, slug="forbidden"
            )
        return principal

    return check


AdminPrincipal = Annotated[Principal, Depends(require_role("admin"))]
