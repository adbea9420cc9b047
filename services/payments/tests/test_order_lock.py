"""A charge and a cancellation of the same order never interleave: each holds the order's lock
until its transaction ends, and a charge takes it with the statement that adds its payment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from payments.domain import OrderBusy, Payment
from payments.repository import PaymentRepository
from payments.settings import PaymentsSettings
from servicekit import new_id
from servicekit.db import Database
from servicekit.testing.statements import statements_sent


@pytest.fixture(scope="module")
async def impatient(payments_settings: PaymentsSettings) -> AsyncIterator[Database]:
    """The same database, waiting 0.2 s for a lock before giving up."""
    database = Database.from_settings(
        payments_settings.model_copy(update={"db_lock_timeout_ms": 200})
    )
    yield database
    await database.dispose()


def _pending(order_id: str) -> Payment:
    return Payment.pending(
        order_id=order_id,
        user_id=new_id("usr"),
        amount_cents=1999,
        currency="EUR",
        payment_method="pm_card_visa",
        at=datetime.now(UTC),
    )


async def test_a_charge_holds_its_order_and_adds_its_payment_in_one_statement(
    database: Database,
) -> None:
    order_id = new_id("ord")
    async with database.transaction() as session, statements_sent(session) as charging:
        held = await PaymentRepository(session).add_once(_pending(order_id))
    assert [sql.split()[0] for sql in charging] == ["WITH"]
    assert (held.payment.order_id, held.payment.status) == (order_id, "pending")

    # Another delivery for the order finds the first one's payment, with one more statement.
    async with database.transaction() as session, statements_sent(session) as again:
        found = await PaymentRepository(session).add_once(_pending(order_id))
    assert [sql.split()[0] for sql in again] == ["WITH", "SELECT"]
    assert found.payment.id == held.payment.id


async def test_a_cancellation_waits_for_the_charge_in_flight(
    database: Database, impatient: Database
) -> None:
    order_id = new_id("ord")
    async with database.transaction() as charging:
        await PaymentRepository(charging).add_once(_pending(order_id))
        with pytest.raises(OrderBusy):
            async with impatient.transaction() as cancelling:
                await PaymentRepository(cancelling).lock_order(order_id)

    async with impatient.transaction() as cancelling:
        repository = PaymentRepository(cancelling)
        await repository.lock_order(order_id)
        [payment] = await repository.for_order(order_id)  # the charge's, committed
    assert payment.status == "pending"


async def test_a_charge_waits_for_the_cancellation_in_flight(
    database: Database, impatient: Database
) -> None:
    order_id = new_id("ord")
    async with database.transaction() as cancelling:
        await PaymentRepository(cancelling).lock_order(order_id)
        with pytest.raises(OrderBusy):
            async with impatient.transaction() as charging:
                await PaymentRepository(charging).add_once(_pending(order_id))

    async with database.transaction() as session:
        assert await PaymentRepository(session).for_order(order_id) == []  # it added nothing
