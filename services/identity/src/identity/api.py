"""identity's routes: parse, call a handler, shape the response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status

from identity.domain import (
    EmailAlreadyRegistered,
    InvalidCredentials,
    LoginThrottle,
    LoginThrottled,
    User,
)
from identity.handlers import (
    TokenPolicy,
    authenticate,
    check_login_lock,
    record_failed_login,
    register_user,
)
from identity.passwords import Passwords
from identity.repository import UserRepository
from identity.schemas import NewUser, TokenRequest, TokenResponse, UserOut
from servicekit import ProblemError
from servicekit.auth import CurrentPrincipal, KeyRing
from servicekit.db import Database, SessionDep, get_database
from servicekit.events import OutboxDep
from servicekit.idempotency import IdempotentRoute, idempotency_exempt

__all__ = ["router"]

router = APIRouter(route_class=IdempotentRoute)

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


# The dependencies are `async` although they never await: FastAPI runs a plain `def` one in its
# thread pool, a thread hand-off per request for an attribute read.
async def _passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


async def _keys(request: Request) -> KeyRing:
    keys: KeyRing = request.app.state.key_ring
    return keys


async def _policy(request: Request) -> TokenPolicy:
    policy: TokenPolicy = request.app.state.token_policy
    return policy


async def _throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


PasswordsDep = Annotated[Passwords, Depends(_passwords)]


@router.post(
    "/v1/users",
    operation_id="signUp",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    tags=["users"],
    summary="Sign up",
    responses={
        400: {"description": "Missing or invalid Idempotency-Key", **_PROBLEM},
        409: {"description": "The email is already registered", **_PROBLEM},
        422: {"description": "Invalid input", **_PROBLEM},
    },
)
async def sign_up(
    body: NewUser, session: SessionDep, passwords: PasswordsDep, outbox: OutboxDep
) -> UserOut:
    try:
        user = await register_user(
            session, passwords, outbox, email=body.email, name=body.name, password=body.password
        )
    except EmailAlreadyRegistered:
        raise ProblemError(
            "An account with this email already exists.", status=409, slug="email-taken"
        ) from None
    return _user_out(user)


@router.post(
    "/v1/tokens",
    operation_id="createToken",
    response_model=TokenResponse,
    tags=["tokens"],
    summary="Exchange email and password for an access token",
    # Replaying a stored token would keep a credential in the database; a token changes no state.
    openapi_extra=idempotency_exempt("issuing a token changes no state"),
    responses={
        401: {"description": "Wrong email or password", **_PROBLEM},
        429: {
            "description": "Too many failed logins for this email lately (`Retry-After`)",
            **_PROBLEM,
        },
    },
)
async def create_token(
    body: TokenRequest,
    session: SessionDep,
    database: Annotated[Database, Depends(get_database)],
    passwords: PasswordsDep,
    keys: Annotated[KeyRing, Depends(_keys)],
    policy: Annotated[TokenPolicy, Depends(_policy)],
    throttle: Annotated[LoginThrottle, Depends(_throttle)],
) -> TokenResponse:
    try:
        await check_login_lock(database, body.email)
        issued = await authenticate(
            session, passwords, keys, policy, email=body.email, password=body.password
        )
    except LoginThrottled as throttled:
        raise ProblemError(
            "Too many failed logins for this email; retry after Retry-After seconds.",
            status=429,
            slug="login-throttled",
            headers={"Retry-After": str(throttled.retry_after_s)},
        ) from None
    except InvalidCredentials:
        await record_failed_login(database, throttle, body.email)
        raise ProblemError(
            "The email or password is wrong.",
            status=401,
            slug="invalid-credentials",
            headers={"WWW-Authenticate": "Bearer"},
        ) from None
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)


@router.get(
    "/v1/users/me",
    operation_id="getCurrentUser",
    response_model=UserOut,
    tags=["users"],
    summary="The signed-in user",
    responses={401: {"description": "Missing, invalid or expired token", **_PROBLEM}},
)
async def me(principal: CurrentPrincipal, session: SessionDep) -> UserOut:
    user = await UserRepository(session).by_id(principal.subject)
    if user is None:
        raise ProblemError("The token's user no longer exists.", status=401, slug="invalid-token")
    return _user_out(user)


@router.get(
    "/.well-known/jwks.json",
    operation_id="getJwks",
    tags=["tokens"],
    summary="Public signing keys (JWKS)",
)
async def jwks(keys: Annotated[KeyRing, Depends(_keys)]) -> dict[str, Any]:
    return keys.jwks()


def _user_out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, name=user.name, created_at=user.created_at)
