"""All of identity's SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from identity.domain import EmailAlreadyRegistered, User
from identity.tables import login_failures, users

__all__ = ["LoginFailureRepository", "UserRepository"]


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, user_id: str, email: str, name: str, password_hash: str) -> User:
        statement = (
            insert(users)
            .values(id=user_id, email=email, name=name, password_hash=password_hash)
            .returning(*users.c)
        )
        try:
            async with self._session.begin_nested():
                row = (await self._session.execute(statement)).one()
        except IntegrityError as error:
            raise EmailAlreadyRegistered(email) from error
        return _user(row)

    async def by_email(self, email: str) -> User | None:
        row = (await self._session.execute(select(users).where(users.c.email == email))).first()
        return _user(row) if row else None

    async def by_id(self, user_id: str) -> User | None:
        row = (await self._session.execute(select(users).where(users.c.id == user_id))).first()
        return _user(row) if row else None

    async def upsert_with_roles(
        self, user_id: str, email: str, name: str, password_hash: str, roles: Sequence[str]
    ) -> User:
        values = pg_insert(users).values(
            id=user_id, email=email, name=name, password_hash=password_hash, roles=list(roles)
        )
        statement = values.on_conflict_do_update(
            index_elements=[users.c.email],
            set_={
                "password_hash": values.excluded.password_hash,
                "roles": values.excluded.roles,
                "updated_at": func.now(),
            },
        ).returning(*users.c)
        return _user((await self._session.execute(statement)).one())

    async def set_password(self, user_id: str, password_hash: str) -> None:
        await self._session.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(password_hash=password_hash, updated_at=func.now())
        )


class LoginFailureRepository:
    """Times are Postgres's own `now()`, one clock for every replica."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def locked_for_s(self, key: str) -> float:
        """Seconds the address is still locked for (0 when it is not)."""
        remaining = func.extract("epoch", login_failures.c.locked_until - func.now())
        value = (
            await self._session.execute(
                select(remaining).where(
                    login_failures.c.account_key == key,
                    login_failures.c.locked_until > func.now(),
                )
            )
        ).scalar()
        return float(value or 0.0)

    async def add_failure(self, key: str, window_s: float) -> int:
        """Count a failure (restarting the count when the last one is older than the window);
        returns the count."""
        stale = login_failures.c.last_failed_at < func.now() - func.make_interval(
            0, 0, 0, 0, 0, 0, window_s
        )
        values = pg_insert(login_failures).values(
            account_key=key, failures=1, last_failed_at=func.now()
        )
        statement = values.on_conflict_do_update(
            index_elements=[login_failures.c.account_key],
            set_={
                "failures": case((stale, 1), else_=login_failures.c.failures + 1),
                "last_failed_at": func.now(),
            },
        ).returning(login_failures.c.failures)
        return int((await self._session.execute(statement)).scalar_one())

    async def lock(self, key: str, seconds: float) -> None:
        await self._session.execute(
            update(login_failures)
            .where(login_failures.c.account_key == key)
            .values(locked_until=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, seconds))
        )

    async def clear(self, key: str) -> None:
        await self._session.execute(
            delete(login_failures).where(login_failures.c.account_key == key)
        )


def _user(row: object) -> User:
    mapping = row._mapping  # type: ignore[attr-defined]
    return User(
        id=mapping["id"],
        email=mapping["email"],
        name=mapping["name"],
        password_hash=mapping["password_hash"],
        roles=tuple(mapping["roles"]),
        created_at=mapping["created_at"],
    )
