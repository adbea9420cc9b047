"""A server-side deadline for every request: the analogue of a function timeout.

The budget is the service's `request_timeout_s`, or less when the caller says how much of its
own budget remains (`X-Request-Budget-Ms`). Work still running at the deadline is cancelled and
the client gets a 504 problem. The deadline is published in a context variable, so outgoing
calls can pass the remainder downstream.

Requests share timers: a deadline is rounded up to the next `DEADLINE_GRANULARITY_S` and every
request due in that slot is cut by one timer, instead of each request arming and cancelling
its own (`asyncio.timeout` per request was a tenth of a small request's cost). A request is
therefore cut at most that much after its budget.
"""

from __future__ import annotations

import asyncio
import math
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.asgi.tracked_send import TrackedSend
from servicekit.errors import send_problem
from servicekit.observability.metrics import HTTP_REQUESTS_REJECTED
from servicekit.request_context import deadline_var

__all__ = ["BUDGET_HEADER", "DEADLINE_GRANULARITY_S", "RequestDeadline"]

BUDGET_HEADER = "x-request-budget-ms"
_BUDGET_HEADER_BYTES = BUDGET_HEADER.encode()
_UNBOUNDED_PATHS = frozenset({"/metrics"})
DEADLINE_GRANULARITY_S = 0.01


class _DeadlineSlots:
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


class RequestDeadline:
    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self._slots: _DeadlineSlots | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _UNBOUNDED_PATHS:
            await self.app(scope, receive, send)
            return
        caller_budget = _caller_budget_s(scope)
        budget = self.timeout_s if caller_budget is None else min(self.timeout_s, caller_budget)
        token = deadline_var.set(time.monotonic() + budget)
        tracked = TrackedSend(send)

        try:
            if budget <= 0:
                raise TimeoutError
            slots = self._slots_of_running_loop()
            async with asyncio.Timeout(None) as timeout:
                slot = slots.add(timeout, budget)
                try:
                    await self.app(scope, receive, tracked)
                finally:
                    slots.discard(timeout, slot)
        except TimeoutError:
            if tracked.started:
                raise
            HTTP_REQUESTS_REJECTED.labels("deadline_exceeded").inc()
            await send_problem(
                send,
                504,
                f"The request did not complete within its {budget:.3g} s budget.",
                slug="deadline-exceeded",
            )
        finally:
            deadline_var.reset(token)

    def _slots_of_running_loop(self) -> _DeadlineSlots:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots.loop is not loop:
            self._slots = _DeadlineSlots(loop)
        return self._slots


def _caller_budget_s(scope: Scope) -> float | None:
    for name, value in scope["headers"]:
        if name == _BUDGET_HEADER_BYTES:
            try:
                return max(0.0, int(value) / 1000)
            except ValueError:
                return None
    return None
