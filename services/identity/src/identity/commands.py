"""identity's own commands (service.toml's `commands`): `python -m identity ensure-admin`."""

from __future__ import annotations

from identity.handlers import ensure_admin
from identity.passwords import Passwords
from identity.settings import IdentitySettings
from servicekit import CommandFailed
from servicekit.db import Database

__all__ = ["ensure_admin_command"]


async def ensure_admin_command(settings: IdentitySettings) -> None:
    """create or update the admin user from ADMIN_EMAIL and ADMIN_PASSWORD"""
    if not settings.admin_email or settings.admin_password is None:
        raise CommandFailed("ADMIN_EMAIL and ADMIN_PASSWORD must be set")
    database = Database.from_settings(settings)
    try:
        async with database.transaction() as session:
            user = await ensure_admin(
                session,
                Passwords(),
                email=settings.admin_email,
                password=settings.admin_password.get_secret_value(),
            )
    finally:
        await database.dispose()
    print(f"admin ready: {user.email} ({user.id})")
