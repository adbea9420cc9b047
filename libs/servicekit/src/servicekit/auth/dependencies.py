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
    "principal_of",
    "require_role",
]

_bearer = HTTPBearer(auto_error=False, description="An access token from identity's /v1/tokens")


def install_token_verifier(app: FastAPI, verifier: TokenVerifier) -> None:
    app.state.token_verifier = verifier


_PRINCIPAL_SCOPE_KEY = "flotilla.principal"


async def principal_of(request: Request) -> Principal | None:
    """The caller's verified principal, None when the request carries no bearer token.

    A token that is present but invalid is a 401 problem. The result is kept on the request,
    so the chassis (idempotency scope) and the route's own dependency verify a token once.
    """
    if _PRINCIPAL_SCOPE_KEY in request.scope:
        cached: Principal | None = request.scope[_PRINCIPAL_SCOPE_KEY]
        return cached
    credentials = await _bearer(request)
    principal = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
        if verifier is None:
            raise ProblemError(
                "This service does not accept bearer tokens.",
                status=401,
                slug="invalid-token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        try:
            principal = await verifier.verify(credentials.credentials)
        except InvalidToken as error:
            raise ProblemError(
                f"The bearer token is not valid: {error}.",
                status=401,
                slug="invalid-token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from error
    request.scope[_PRINCIPAL_SCOPE_KEY] = principal
    return principal


async def _current_principal(
    request: Request,
    # Declared for the OpenAPI security scheme; the token itself is read by principal_of.
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    principal = await principal_of(request)
    if principal is None:
        raise ProblemError(
            "A bearer token is required.",
            status=401,
            slug="unauthenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


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
