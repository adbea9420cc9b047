"""All of identity's SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from identity.domain import EmailAlreadyRegistered, User
from identity.tables import users

__all__ = ["UserRepository"]


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
