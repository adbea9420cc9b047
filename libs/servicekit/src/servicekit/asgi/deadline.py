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
from collections.abc import Awaitable
from typing import Any

from servicekit.asgi.request_head import BUDGET_HEADER

__all__ = ["BUDGET_HEADER", "DEADLINE_GRANULARITY_S", "DeadlineSlots"]

DEADLINE_GRANULARITY_S = 0.01


class DeadlineSlots:
    """The requests of one event loop due in each slot of `DEADLINE_GRANULARITY_S`, and one
    timer per slot that cancels the task of every request still in it.

    `run` is what `asyncio.timeout` does for one request — the task is cancelled at the
    deadline, and that cancellation, and only that one, comes out as `TimeoutError` — without
    arming a timer of its own or building a context manager per request.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._slots: dict[int, set[_Cut]] = {}

    async def run(self, work: Awaitable[None], budget_s: float) -> None:
        """Await `work` in the current task; raises `TimeoutError` when the deadline cut it."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline needs a task to cut")
        cut = _Cut(task)
        slot = self._enter(cut, budget_s)
        try:
            await work
        except asyncio.CancelledError:
            # Ours when our timer cancelled the task and nobody else asked for it since.
            if cut.done and task.uncancel() <= cut.cancelling:
                raise TimeoutError from None
            raise
        else:
            if cut.done:  # the work swallowed the cancellation: take ours back
                task.uncancel()
        finally:
            members = self._slots.get(slot)
            if members is not None:
                members.discard(cut)

    def _enter(self, cut: _Cut, budget_s: float) -> int:
        slot = math.ceil((self.loop.time() + budget_s) / DEADLINE_GRANULARITY_S)
        members = self._slots.get(slot)
        if members is None:
            members = self._slots[slot] = set()
            self.loop.call_at(slot * DEADLINE_GRANULARITY_S, self._expire, slot)
        members.add(cut)
        return slot

    def _expire(self, slot: int) -> None:
        for cut in self._slots.pop(slot, ()):
            cut.done = True
            cut.task.cancel()


class _Cut:
    """One request's deadline: its task, how many cancellations the task had pending when the
    request began, and whether the deadline has cancelled it."""

    __slots__ = ("cancelling", "done", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.cancelling = task.cancelling()
        self.done = False
