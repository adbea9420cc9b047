"""`python -m catalog seed-demo`: a small EUR catalog, created once by SKU."""

from __future__ import annotations

from sqlalchemy import func, select

from catalog.handlers import DEMO_PRODUCTS, seed_demo_products
from catalog.tables import products
from servicekit.db import Database


async def test_seeding_twice_keeps_one_product_per_demo_sku(database: Database) -> None:
    async with database.transaction() as session:
        await seed_demo_products(session)
    async with database.transaction() as session:
        assert await seed_demo_products(session) == []

    skus = [sku for sku, *_ in DEMO_PRODUCTS]
    async with database.transaction() as session:
        rows = (
            await session.execute(
                select(products.c.sku, func.count(), func.min(products.c.currency))
                .where(products.c.sku.in_(skus))
                .group_by(products.c.sku)
            )
        ).all()
    assert sorted((sku, count, currency) for sku, count, currency in rows) == sorted(
        (sku, 1, "EUR") for sku in skus
    )


def test_the_demo_catalog_is_small_and_has_a_product_with_one_unit() -> None:
    assert 5 <= len(DEMO_PRODUCTS) <= 8
    assert [stock for *_, stock in DEMO_PRODUCTS].count(1) == 1
