"""While the psp is down (its outage knob, on the stack's psp) a reservation is retried: in
place, then through the group's retry topics; it is charged once the psp is back, or fails with
`provider_unavailable` — never in the dead-letter topic, so the order's saga always ends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from contracts.catalog import StockReservedV1
from contracts.payments import PaymentFailedV1
from servicekit.db import statement_time
from servicekit.testing import eventually

Pipeline = Any  # conftest's Pipeline
Reservation = Callable[..., StockReservedV1]
SetFaults = Callable[..., Any]


async def test_an_outage_is_retried_until_the_provider_recovers(
    pipeline: Pipeline, reservation: Reservation, psp_faults: SetFaults
) -> None:
    await psp_faults(outage=True)
    reserved = reservation()
    await pipeline.publish(reserved)

    async with pipeline.consuming():

        async def retried() -> bool:
            return bool(pipeline.consumed("retried") >= 1)

        await eventually(retried, what="the reservation sent to a retry topic")
        assert await pipeline.payment(reserved.order_id) is None
        await psp_faults()  # the provider is back
        payment = await pipeline.settled(reserved.order_id)

    assert payment.status == "succeeded"
    assert payment.attempts > pipeline.settings.consumer_in_place_attempts
    assert len(await pipeline.charges(reserved.order_id)) == 1
    assert pipeline.consumed("dead_lettered") == 0


async def test_an_outage_longer_than_the_give_up_time_fails_the_payment(
    pipeline: Pipeline, reservation: Reservation, psp_faults: SetFaults
) -> None:
    settings = pipeline.settings.model_copy(update={"payment_give_up_s": 1.0})
    await psp_faults(outage=True)
    reserved = reservation()
    await pipeline.publish(reserved)

    async with pipeline.consuming(settings):
        payment = await pipeline.settled(reserved.order_id)

    assert (payment.status, payment.reason) == ("failed", "provider_unavailable")
    assert (payment.updated_at - reserved.reserved_at).total_seconds() >= 1.0
    assert await pipeline.charges(reserved.order_id) == []
    [event] = await pipeline.published(reserved.order_id)
    assert PaymentFailedV1.model_validate(event["data"]).reason == "provider_unavailable"
    assert pipeline.consumed("dead_lettered") == 0


async def test_the_last_attempt_fails_the_payment_instead_of_dead_lettering_it(
    pipeline: Pipeline, reservation: Reservation, psp_faults: SetFaults
) -> None:
    # Retries that end long before the give-up time: the saga must end all the same.
    settings = pipeline.settings.model_copy(
        update={
            "payment_give_up_s": 3600.0,
            "consumer_in_place_attempts": 2,
        }
    )
    await psp_faults(outage=True)
    reserved = reservation()
    await pipeline.publish(reserved)

    async with pipeline.consuming(settings, retry_delays_s=(0.2, 0.2)):
        payment = await pipeline.settled(reserved.order_id)

    assert (payment.status, payment.reason) == ("failed", "provider_unavailable")
    assert payment.attempts == 2 * 3  # two attempts in each of three tiers
    assert pipeline.consumed("dead_lettered") == 0


async def test_the_give_up_window_is_measured_with_the_database_s_clock(
    pipeline: Pipeline, reservation: Reservation, psp_faults: SetFaults
) -> None:
    """catalog stamps reserved_at with the database's time; payments measures the give-up
    window from it with the same clock: a reservation that is past the window by that clock
    fails at its first attempt, without a retry."""
    async with pipeline.database.transaction() as session:
        database_now = await statement_time(session)
    give_up_s = pipeline.settings.payment_give_up_s
    await psp_faults(outage=True)
    reserved = reservation(reserved_at=database_now - timedelta(seconds=give_up_s + 1))
    await pipeline.publish(reserved)

    async with pipeline.consuming():
        payment = await pipeline.settled(reserved.order_id)

    assert (payment.status, payment.reason) == ("failed", "provider_unavailable")
    assert pipeline.consumed("retried") == 0
