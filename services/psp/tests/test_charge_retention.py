"""Item 9 of the hardening issue: psp's charges do not grow forever. Charges and refunds older
than `charge_retention_s` are purged by a background task (psp.retention), a refund first and
a charge only once no refund refers to it — against real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import literal_column, update

from psp.retention import charge_purger
from psp.settings import PspSettings
from psp.tables import charges, refunds
from servicekit.db.engine import Database
from servicekit.db.retention import ROWS_PURGED

from .test_refunds import _charge, _key, _refund


@pytest.fixture
async def database(psp_settings: PspSettings) -> AsyncIterator[Database]:
    database = Database.from_settings(psp_settings)
    yield database
    await database.dispose()


async def _age(database: Database, table: object, row_id: str, days: int) -> None:
    assert table is charges or table is refunds
    async with database.transaction() as session:
        await session.execute(
            update(table)  # type: ignore[arg-type]
            .where(table.c.id == row_id)
            .values(created_at=literal_column(f"now() - interval '{days} days'"))
        )


async def test_charges_and_refunds_past_the_retention_are_purged(
    psp: httpx.AsyncClient, psp_settings: PspSettings, database: Database
) -> None:
    retention_days = psp_settings.charge_retention_s / 86_400
    old_days = int(retention_days) + 1
    unrefunded = await _charge(psp)
    refunded = await _charge(psp)
    refunded_lately = await _charge(psp)
    recent = await _charge(psp)
    old_refund = (await _refund(psp, refunded["id"], _key())).json()
    await _refund(psp, refunded_lately["id"], _key())
    for charge in (unrefunded, refunded, refunded_lately):
        await _age(database, charges, charge["id"], old_days)
    await _age(database, refunds, old_refund["id"], old_days)
    before = ROWS_PURGED.labels("charges")._value.get()

    purged = await charge_purger(database, psp_settings).purge_once()

    for gone in (unrefunded, refunded):
        assert (await psp.get(f"/v1/charges/{gone['id']}")).status_code == 404
    for kept in (refunded_lately, recent):
        assert (await psp.get(f"/v1/charges/{kept['id']}")).status_code == 200
    assert purged["refunds"] >= 1
    assert purged["charges"] >= 2
    assert ROWS_PURGED.labels("charges")._value.get() - before == purged["charges"]
