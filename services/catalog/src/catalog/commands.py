"""catalog's own commands (service.toml's `commands`): `python -m catalog seed-demo`."""

from __future__ import annotations

from catalog.handlers import DEMO_PRODUCTS, seed_demo_products
from catalog.settings import CatalogSettings
from servicekit.db import Database

__all__ = ["seed_demo_command"]


async def seed_demo_command(settings: CatalogSettings) -> None:
    """create the demo products that do not exist yet (by SKU); safe to run repeatedly"""
    database = Database.from_settings(settings)
    try:
        async with database.transaction() as session:
            created = await seed_demo_products(session)
    finally:
        await database.dispose()
    print(f"demo catalog ready: {len(created)} created, {len(DEMO_PRODUCTS) - len(created)} kept")
