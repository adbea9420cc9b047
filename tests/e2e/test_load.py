"""`make load`: a short run of the load generator against the test stack gets every answer it
expects (load shed with Retry-After is waited out and sent again, as clients should), and every
order it places ends final."""

from __future__ import annotations

import random

from devstack.load.__main__ import load
from devstack.load.report import Report
from devstack.load.runner import Plan
from devstack.profiles import Profile
from devstack.stack import Stack


async def test_a_short_load_run_gets_every_answer_it_expects_and_every_order_ends(
    test_stack: Stack, stack_profile: Profile
) -> None:
    shown: list[str] = []
    plan = Plan(rate=4, duration_s=5, progress_every_s=1)

    mix = random.Random(11)  # noqa: S311 - a traffic mix
    gateway = stack_profile.gateway_url
    tally = await load(gateway, plan, test_stack.admin_password, mix, Report(shown.append))

    assert sum(tally.journeys.values()) > 0
    assert tally.requests > 0
    assert dict(tally.failures) == {}, "\n".join(shown)
    assert tally.dropped == 0
    placed = tally.journeys["order"]
    # An order is either refused at the POST (counted), or followed to a final state.
    assert set(tally.orders) <= {"confirmed", "cancelled", "rejected"}, tally.orders
    assert sum(tally.orders.values()) == placed
    assert len(tally.order_final_ms) == placed
    summary = "\n".join(shown)
    assert "POST /orders" in summary or placed == 0
    assert "journeys started in 5 s" in summary
