"""`python -m catalog {serve,bootstrap,seed-demo}`."""

from __future__ import annotations

import sys

from catalog.handlers import DEMO_PRODUCTS, seed_demo_products
from catalog.main import build_app
from catalog.settings import CatalogSettings
from servicekit import ServiceCli
from servicekit.db import Database


async def seed_demo_command(settings: CatalogSettings) -> None:
    """create the demo products that do not exist yet (by SKU); safe to run repeatedly"""
    database = Database.from_settings(settings)
    try:
        async with database.transaction() as session:
            created = await seed_demo_products(session)
    finally:
        await database.dispose()
    print(f"demo catalog ready: {len(created)} created, {len(DEMO_PRODUCTS) - len(created)} kept")


cli = ServiceCli(
    settings_type=CatalogSettings,
    build_app=build_app,
    migrations="catalog:migrations",
    commands={"seed-demo": seed_demo_command},
)


def main() -> None:
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
