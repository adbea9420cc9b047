"""A server-side deadline for every request: the analogue of a function timeout.

The budget is the service's `request_timeout_s`, or less when the caller says how much of its
own budget remains (`X-Request-Budget-Ms`, `servicekit.asgi.request_head`). Work still running
at the deadline is cancelled and the client gets a 504 problem (`servicekit.asgi.chassis`).
The deadline is published in a context variable, so outgoing calls can pass the remainder
downstream.

Requests share timers: a deadline is rounded up to the next `DEADLINE_GRANULARITY_S` and every
request due in that slot is cut by one timer, instead of each request arming and cancelling
its own (`asyncio.timeout` per request was a tenth of a small request's cost). A request is
therefore cut at most that much after its budget.
"""

from __future__ import annotations

import asyncio
import math

from servicekit.asgi.request_head import BUDGET_HEADER

__all__ = ["BUDGET_HEADER", "DEADLINE_GRANULARITY_S", "DeadlineSlots"]

DEADLINE_GRANULARITY_S = 0.01


class DeadlineSlots:
    """The requests of one event loop due in each slot of `DEADLINE_GRANULARITY_S`, and one
    timer per slot that expires the `asyncio.Timeout` of every request still in it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._slots: dict[int, set[asyncio.Timeout]] = {}

    def add(self, timeout: asyncio.Timeout, budget_s: float) -> int:
        slot = math.ceil((self.loop.time() + budget_s) / DEADLINE_GRANULARITY_S)
        members = self._slots.get(slot)
        if members is None:
            members = self._slots[slot] = set()
            self.loop.call_at(slot * DEADLINE_GRANULARITY_S, self._expire, slot)
        members.add(timeout)
        return slot

    def discard(self, timeout: asyncio.Timeout, slot: int) -> None:
        members = self._slots.get(slot)
        if members is not None:
            members.discard(timeout)

    def _expire(self, slot: int) -> None:
        now = self.loop.time()
        for timeout in self._slots.pop(slot, ()):
            timeout.reschedule(now)  # cancels its request's task at once
