"""A server-side deadline for every request: the analogue of a function timeout.

The budget is the service's `request_timeout_s`, or less when the caller says how much of its
own budget remains (`X-Request-Budget-Ms`). Work still running at the deadline is cancelled and
the client gets a 504 problem. The deadline is published in a context variable, so outgoing
calls can pass the remainder downstream.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.asgi.tracked_send import TrackedSend
from servicekit.errors import send_problem
from servicekit.observability.metrics import HTTP_REQUESTS_REJECTED
from servicekit.request_context import deadline_var

__all__ = ["BUDGET_HEADER", "RequestDeadline"]

BUDGET_HEADER = "x-request-budget-ms"
_BUDGET_HEADER_BYTES = BUDGET_HEADER.encode()
_UNBOUNDED_PATHS = frozenset({"/metrics"})


class RequestDeadline:
    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

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
            async with asyncio.timeout(budget):
                await self.app(scope, receive, tracked)
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


def _caller_budget_s(scope: Scope) -> float | None:
    for name, value in scope["headers"]:
        if name == _BUDGET_HEADER_BYTES:
            try:
                return max(0.0, int(value) / 1000)
            except ValueError:
                return None
    return None
