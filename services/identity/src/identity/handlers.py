"""identity's use cases. They take a unit of work's session and never commit."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import UserRegisteredV1
from identity.domain import (
    InvalidCredentials,
    LoginThrottle,
    LoginThrottled,
    User,
    account_key,
    normalize_email,
)
from identity.metrics import count_signup
from identity.passwords import Passwords
from identity.repository import LoginFailureRepository, UserRepository
from servicekit import new_id
from servicekit.auth import KeyRing, issue_access_token
from servicekit.db import Database
from servicekit.events import Outbox

__all__ = [
    "IssuedToken",
    "TokenPolicy",
    "authenticate",
    "check_login_lock",
    "ensure_admin",
    "record_failed_login",
    "register_user",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    audience: str
    ttl_s: int


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


async def register_user(
    session: AsyncSession,
    passwords: Passwords,
    outbox: Outbox,
    *,
    email: str,
    name: str,
    password: str,
) -> User:
    """Raises EmailAlreadyRegistered when the address has an account. The account and its
    `identity.user.registered.v1` event commit together."""
    password_hash = await passwords.hash(password)
    user = await UserRepository(session).add(
        new_id("usr"), normalize_email(email), name, password_hash
    )
    await outbox.append(
        session,
        UserRegisteredV1(
            user_id=user.id, email=user.email, name=user.name, registered_at=user.created_at
        ),
    )
    count_signup(session)
    log.info("user registered", extra={"user_id": user.id})
    return user


async def authenticate(
    session: AsyncSession,
    passwords: Passwords,
    keys: KeyRing,
    policy: TokenPolicy,
    *,
    email: str,
    password: str,
) -> IssuedToken:
    """Raises InvalidCredentials, identically for an unknown email and a wrong password. A
    success forgets the address's failed logins (in the request's transaction)."""
    user = await UserRepository(session).by_email(normalize_email(email))
    stored = user.password_hash if user else None
    matched = await passwords.verify(stored, password)
    if not matched and password != password.strip():
        # Accounts made before 2026-12-04 had their password stored stripped of surrounding
        # whitespace; the same try for an unknown email keeps both failures equally slow.
        matched = await passwords.verify(stored, password.strip())
    if not matched or user is None:
        raise InvalidCredentials
    await LoginFailureRepository(session).clear(account_key(email))
    token = issue_access_token(
        keys,
        subject=user.id,
        issuer=policy.issuer,
        audience=policy.audience,
        ttl_s=policy.ttl_s,
        roles=user.roles,
        extra_claims={"email": user.email},
    )
    return IssuedToken(token, policy.ttl_s)


async def check_login_lock(database: Database, email: str) -> None:
    """Raises LoginThrottled while the address is locked; checked before the password is
    hashed, so a locked address costs no hashing either."""
    async with database.transaction() as session:
        remaining = await LoginFailureRepository(session).locked_for_s(account_key(email))
    if remaining > 0:
        raise LoginThrottled(max(1, math.ceil(remaining)))


async def record_failed_login(database: Database, throttle: LoginThrottle, email: str) -> None:
    """Count the failure and lock the address when the throttle says so — in a transaction of
    its own: the request's own rolls back with its 401."""
    key = account_key(email)
    async with database.transaction() as session:
        repository = LoginFailureRepository(session)
        failures = await repository.add_failure(key, throttle.window_s)
        lock_s = throttle.lock_after(failures)
        if lock_s > 0:
            await repository.lock(key, lock_s)
    if lock_s > 0:
        # The hash, not the address: a log line must not list the addresses tried.
        log.warning(
            "login throttled",
            extra={"account_key": key[:16], "failures": failures, "lock_s": lock_s},
        )


async def ensure_admin(
    session: AsyncSession, passwords: Passwords, *, email: str, password: str
) -> User:
    """Create the admin account, or reset its password and roles; safe to run repeatedly."""
    return await UserRepository(session).upsert_with_roles(
        new_id("usr"),
        normalize_email(email),
        "Administrator",
        await passwords.hash(password),
        ["admin"],
    )
